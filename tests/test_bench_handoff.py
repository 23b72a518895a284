"""bench/handoff.py keeps working: its arithmetic and verdicts, and a small faulted burst through `bridge serve`."""

from __future__ import annotations

import pytest

from bench.handoff import KINTONE, LOST, UPSERT, minimum_calls, one_run, percentile, summary


def test_percentile_is_the_nearest_rank():
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 95) == 95.0
    assert percentile(values, 50) == 50.0
    assert percentile([7.0], 95) == 7.0


def test_the_minimum_counts_full_batches_per_system():
    assert minimum_calls(1000, kintone=False) == {"hubspot.batch_read": 10, UPSERT: 5, "hubspot.batch_update": 10}
    assert minimum_calls(201, kintone=True)[UPSERT] == 2
    assert minimum_calls(201, kintone=True)[KINTONE] == 3


def fake_run(kintone_p95: float, kintone_records: int, sf_upserts: int) -> dict:
    def system(p95: float, records: int) -> dict:
        return {"p50": p95 / 2, "p95": p95, "max": p95, "records": records, "confirmed_p50": p95 / 2,
                "confirmed_p95": p95, "retried": 3, "stages": {"inbox": (5, 9), "evaluate": (50, 90), "write": (8, 9)}}

    minimum = minimum_calls(100, kintone=True)
    return {"systems": {"salesforce": system(900, 100), "kintone": system(kintone_p95, kintone_records)},
            "minimum": minimum, "detail": {**minimum, UPSERT: sf_upserts}, "calls": sum(minimum.values()),
            "kintone_statuses": {200: 1, 503: 1, LOST: 0}, "baseline": 30.0, "wall": 5.0, "spread": 1.0,
            "window": 2.0, "bridge_cpu": 1.5, "sandbox_cpu": 1.0, "other_cpu": 0.2, "load": 0.5}


def test_the_summary_says_which_targets_were_missed():
    met = "\n".join(summary([fake_run(4000, 100, 1)], 100, faults=True, retry_base=None))
    assert "**missed**" not in met
    assert met.count("met |") == 4  # two latencies, the record count, Salesforce's calls
    missed = summary([fake_run(6000, 101, 2)], 100, faults=True, retry_base=1.0)
    assert "BRIDGE_RETRY_BASE_SECONDS=1" in missed[0]
    for what in ("kintone: webhook received → record created", "kintone records", "Salesforce API calls"):
        assert "**missed**" in next(line for line in missed if line.startswith(f"| {what}"))


@pytest.mark.slow  # a real `bridge serve` and sandbox on loopback; about 15 s
def test_a_small_faulted_burst_reaches_both_systems_once_per_lead():
    result = one_run(60, kintone=True, faults=True, seed_value=1, retry_base=0.2)
    assert set(result["systems"]) == {"salesforce", "kintone"}
    for system in result["systems"].values():
        assert system["records"] == 60
        assert 0 < system["p50"] <= system["p95"] <= system["max"]
        assert system["statuses"] == {"done": 60}
    assert result["detail"][UPSERT] == 1
    answered = result["kintone_statuses"]
    assert sum(answered.values()) == result["detail"][KINTONE] >= 1
