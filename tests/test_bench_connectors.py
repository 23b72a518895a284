"""bench/connectors.py keeps working: one small run per connector against an in-process sandbox."""

from __future__ import annotations

import pytest

from bench.connectors import CASES, Row, run_case, sandbox, table


@pytest.fixture(scope="module")
def host():
    with sandbox(in_process=True) as running:
        yield running


@pytest.mark.parametrize("system", list(CASES))
def test_a_small_run_makes_the_minimum_number_of_calls(host, system):
    run = run_case(host, system, 250)
    assert run.minimum == -(-250 // CASES[system].batch)
    assert run.calls == run.served == run.minimum
    assert run.waited == 0
    assert run.seconds > 0
    assert run.client_cpu > 0 and run.sandbox_cpu > 0 and run.bare_cpu > 0
    row = Row(system, 250, run.tier, [run])
    assert row.at_minimum
    line = table([row]).splitlines()[-1]
    assert f"| 250 | {run.minimum} ({run.minimum}) |" in line
