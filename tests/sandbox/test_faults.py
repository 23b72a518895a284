"""Fault knobs: failures by rate (seeded, repeatable), lost responses (applied, never answered), configured faults."""

from __future__ import annotations

import pytest
import requests

from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.config import FaultConfig
from connectors.sandbox.controls import LOSE_RESPONSE, Failure, FailurePlan

READ = "/records.json"


def upsert_body(*keys: str) -> dict:
    records = [{"updateKey": {"field": "hubspot_contact_id", "value": key}, "record": {"company": {"value": "C"}}}
               for key in keys]
    return {"app": 1, "upsert": True, "records": records}


def statuses(kintone, calls: int) -> list[int]:
    return [kintone.get(READ, params={"app": 1}).status_code for _ in range(calls)]


def test_a_rate_failure_answers_about_that_share_of_calls_and_stays(control, kintone):
    added = control.post("/failures", json={"endpoint": "kintone.records_read", "status": 503, "rate": 0.2})
    assert added.status_code == 201
    seen = statuses(kintone, 200)
    assert 20 <= seen.count(503) <= 60  # 40 expected; a seeded run is repeatable, this bounds any seed
    assert set(seen) == {200, 503}
    assert [f["rate"] for f in control.get("/failures").json()] == [0.2]  # not used up: it stays until deleted
    assert control.delete("/failures").status_code == 204
    assert set(statuses(kintone, 20)) == {200}


def test_the_same_seed_fails_the_same_calls(control, kintone):
    def run(seed: int) -> list[int]:
        control.delete("/failures")
        assert control.patch("/config", json={"faults": {"seed": seed}}).status_code == 200
        control.post("/failures", json={"endpoint": "kintone.*", "status": 503, "rate": 0.3})
        return statuses(kintone, 60)

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert first != other
    assert control.get("/config").json()["faults"]["seed"] == 8


def test_rates_of_failures_matching_one_call_add_up():
    plan = FailurePlan(seed=11)
    plan.add(Failure("kintone.records_update", 503, rate=0.2))
    plan.add(Failure("kintone.*", lose_response=True, rate=0.05))
    outcomes = {"503": 0, "lost": 0, "ok": 0}
    for _ in range(20_000):
        environ: dict = {}
        failure = plan.take("kintone.records_update", environ)
        outcomes["503" if failure else "lost" if environ.get(LOSE_RESPONSE) else "ok"] += 1
    assert outcomes["503"] / 20_000 == pytest.approx(0.20, abs=0.015)
    assert outcomes["lost"] / 20_000 == pytest.approx(0.05, abs=0.008)
    assert plan.take("salesforce.upsert", {}) is None  # no draw, no failure for a call nothing matches


def test_a_failure_by_count_comes_before_rates_that_did_not_draw_it():
    plan = FailurePlan(seed=1)
    plan.add(Failure("hubspot.*", 503, rate=0.000001))
    plan.add(Failure("hubspot.batch_read", 500, count=2))
    taken = [plan.take("hubspot.batch_read") for _ in range(3)]
    assert [f.status if f else None for f in taken] == [500, 500, None]
    assert len(plan.pending()) == 1


def test_a_lost_response_applies_the_write_and_answers_nothing(control, kintone, sandbox):
    control.post("/failures", json={"endpoint": "kintone.records_update", "lose_response": True})
    with pytest.raises(requests.ConnectionError) as lost:
        kintone.put(READ, json=upsert_body("1001", "1002"))
    assert not isinstance(lost.value, requests.Timeout)  # closed at once, not stalled into the read timeout
    records = control.get("/kintone/apps/1/records").json()
    assert sorted(r["hubspot_contact_id"]["value"] for r in records) == ["1001", "1002"]
    assert control.get("/calls").json()["kintone.records_update"] == {"calls": 1, "statuses": {"0": 1}}
    # The client cannot tell it was applied and sends it again: an upsert keyed on updateKey stays one record each.
    again = kintone.put(READ, json=upsert_body("1001", "1002"))
    assert again.status_code == 200
    assert [r["operation"] for r in again.json()["records"]] == ["UPDATE", "UPDATE"]
    assert len(control.get("/kintone/apps/1/records").json()) == 2


def test_a_lost_response_works_for_every_system(control, hubspot, salesforce):
    control.post("/failures", json={"endpoint": "hubspot.batch_upsert", "lose_response": True})
    body = {"inputs": [{"id": "a@example.com", "idProperty": "email", "properties": {"lastname": "A"}}]}
    with pytest.raises(requests.ConnectionError):
        hubspot.post("/crm/v3/objects/contacts/batch/upsert", json=body)
    assert [c["properties"]["email"] for c in control.get("/hubspot/contacts").json()] == ["a@example.com"]
    control.post("/failures", json={"endpoint": "salesforce.limits", "lose_response": True})
    with pytest.raises(requests.ConnectionError):
        salesforce.get("/limits")
    assert salesforce.get("/limits").status_code == 200


@pytest.mark.parametrize("failure", [
    {"endpoint": "kintone.*", "status": 503, "lose_response": True},  # a lost response has no status
    {"endpoint": "kintone.*"},  # neither a status nor a lost response
    {"endpoint": "kintone.*", "status": 503, "rate": 0},
    {"endpoint": "kintone.*", "status": 503, "rate": 1.5},
    {"endpoint": "kintone.*", "status": 503, "rate": "often"},
    {"endpoint": "kintone.*", "status": 503, "count": 0},
])
def test_bad_fault_requests_are_refused_and_say_why(control, failure):
    reply = control.post("/failures", json=failure)
    assert reply.status_code == 400
    assert reply.json()["error"]
    assert control.get("/failures").json() == []


def test_configured_faults_are_injected_at_start_and_again_after_a_reset(clock):
    config = SandboxConfig(faults=FaultConfig(seed=3, failures=[Failure("kintone.records_read", 503, rate=0.5),
                                                                 Failure("salesforce.upsert", 500, count=1)]))
    sandbox = Sandbox(config, clock=clock)
    try:
        def draws() -> list[bool]:
            return [sandbox.failures.take("kintone.records_read") is not None for _ in range(40)]

        first = draws()
        assert sandbox.failures.take("salesforce.upsert") is not None  # used up by one call
        assert sandbox.failures.take("salesforce.upsert") is None
        sandbox.reset()
        assert draws() == first  # the seed restarts with the reset
        assert sandbox.failures.take("salesforce.upsert") is not None  # a fresh copy of the failure by count
        assert any(first) and not all(first)
    finally:
        sandbox.close()


def test_configured_failures_cannot_change_while_running(control):
    reply = control.patch("/config", json={"faults": {"failures": ["kintone.*"]}})
    assert reply.status_code == 400
    assert reply.json()["problems"] == ["faults.failures: not a setting that can change while running"]
