"""Fixtures of the end-to-end tests."""

import os

import pytest

from tests.conftest import BASE_ENV, SHIPPED_MAPPINGS
from tests.e2e.serving import Served, free_port


@pytest.fixture
def serve(tmp_path):
    """Start `bridge serve` (call it with env overrides and args); everything is ended after the test."""
    started: list[Served] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "PROMETHEUS_"))}
    env.update({**BASE_ENV, "BRIDGE_DB": str(tmp_path / "bridge.db"), "BRIDGE_MAPPINGS": str(SHIPPED_MAPPINGS),
                "BRIDGE_POLL_SECONDS": "0.05"})

    def start(port: int | None = None, *args: str, **overrides: str) -> Served:
        served = Served(tmp_path, port or free_port(), {**env, **overrides}, args)
        started.append(served)
        served.wait_listening()
        return served

    try:
        yield start
    finally:
        for served in started:
            served.end()
