"""Reconciliation's pure part: what drift is, how a plan is made from both sides' records, and how it reads."""
