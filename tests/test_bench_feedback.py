"""bench/feedback.py's arithmetic and report: the batching minimum, call counting, spans and the targets' verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bench.feedback import (
    HUBSPOT_WRITE,
    KINTONE_READ,
    SF_READ,
    calls_between,
    merged_floor,
    minimum_calls,
    rep_actions,
    spans,
    summary,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_the_minimum_counts_full_batches_of_each_call():
    assert minimum_calls(1000) == {SF_READ: 5, KINTONE_READ: 10, HUBSPOT_WRITE: 20}
    assert minimum_calls(201) == {SF_READ: 2, KINTONE_READ: 3, HUBSPOT_WRITE: 6}
    assert merged_floor(1000) == 10


def test_calls_between_two_snapshots_keeps_only_the_endpoints_used():
    before = {"hubspot.batch_update": {"calls": 3}, "salesforce.query": {"calls": 2}}
    after = {"hubspot.batch_update": {"calls": 10}, "salesforce.query": {"calls": 2},
             "kintone.records_read": {"calls": 4}}
    assert calls_between(before, after) == {"hubspot.batch_update": 7, "kintone.records_read": 4}


def test_spans_are_milliseconds_and_a_missing_end_is_an_error():
    start = {"a": T0, "b": T0}
    assert spans(start, {"a": T0 + timedelta(seconds=1.5), "b": T0}, ["a", "b"], "x") == [1500.0, 0.0]
    with pytest.raises(RuntimeError, match="1 lead"):
        spans(start, {"a": T0, "b": None}, ["a", "b"], "HubSpot value")


def test_each_contact_gets_one_change_in_each_system():
    actions = rep_actions("http://sb/_sandbox", {"salesforce": {"c1": "00Q1"}, "kintone": {"c1": "7"}}, ["c1"])
    assert [(m, u) for m, u, _ in actions] == [("PATCH", "http://sb/_sandbox/salesforce/leads/00Q1"),
                                               ("POST", "http://sb/_sandbox/kintone/apps/1/records/7/status")]


def fake_run(p95: float, calls: dict[str, int]) -> dict:
    stage = {"p50": 1.0, "p95": 2.0, "max": 3.0}
    system = {"p50": p95 / 2, "p95": p95, "max": p95, "spread": 1.0,
              "stages": {"inbox": stage, "read": stage, "write": stage}}
    return {"systems": {"salesforce": system, "kintone": system}, "calls": calls, "minimum": minimum_calls(1000),
            "baseline": 40.0, "window": 3.0, "sending": 1.0, "bridge_cpu": 2.0, "load": 1.0}


def test_the_summary_says_which_targets_were_met_and_missed():
    exact = {SF_READ: 5, KINTONE_READ: 10, HUBSPOT_WRITE: 20}
    met = "\n".join(summary([fake_run(1500, exact)], 1000))
    assert "**missed**" not in met
    assert met.count(": met |") == 6  # two latencies, three kinds of call, all calls together
    missed = summary([fake_run(2500, {**exact, HUBSPOT_WRITE: 25, "hubspot.batch_read": 1})], 1000)
    for what in ("salesforce: delivery", "kintone: delivery", f"{HUBSPOT_WRITE} calls", "reads and HubSpot"):
        assert "**missed**" in next(line for line in missed if line.startswith(f"| {what}"))
    assert f"{SF_READ} calls | 5 (minimum 5; 1.00×) | ≤ 1.1×: met" in "\n".join(missed)
    assert any("hubspot.batch_read 1" in line for line in missed)  # calls outside the minimum are shown
