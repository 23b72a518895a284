"""Catch-up poll fixtures: mocked HTTP for the connectors' API reads."""

from __future__ import annotations

import pytest
import responses


@pytest.fixture
def rsps():
    """Mocked HTTP: an unregistered URL fails the call instead of reaching the network."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
