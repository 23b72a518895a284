"""Benchmarks: each compares against a baseline measured in the same run; figures go into the README."""
