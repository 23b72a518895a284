"""The three connectors against the in-process sandbox over loopback HTTP: no `responses`, real requests.

Each connector is built by the registry from the settings the sandbox prints (`Sandbox.env()`), then
checked, described, used to upsert, read and list changes, and shown failures the sandbox injects: each
comes back as an error to reschedule by, after one call, and the next call succeeds. Call counts come
from both sides: the connector's own counter and the sandbox's call log.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from ruamel.yaml import YAML

from bridge.kernel.errors import RateLimited, Transient
from connectors.base import Connector
from connectors.registry import load_connectors
from connectors.sandbox import Sandbox
from connectors.testing import FakeClock
from tests.conftest import SHIPPED_MAPPINGS

# The sandbox fixtures (a served Sandbox on a settable clock, and a control-API client) are shared
# with tests/sandbox; `clock` here is the sandbox's clock, not tests/connectors' FakeClock.
from tests.sandbox.conftest import START, clock, config, control, sandbox  # noqa: F401

COUNT = 250


@dataclass(frozen=True)
class System:
    """How one connector's records look and where its calls are counted."""

    name: str
    object: str
    key: str
    batch: int
    upsert_label: str  # the endpoint label in connector.calls
    upsert_endpoint: str  # the endpoint name in the sandbox's call log
    record: Callable[[int, int], dict[str, Any]]  # (index, version) -> record
    seed_path: str  # control-API path that adds records as a user would
    stale: dict[str, Any]  # a record saved before the test's writes

    def records(self, version: int, count: int = COUNT) -> list[dict[str, Any]]:
        return [self.record(i, version) for i in range(count)]


def _hubspot(i: int, version: int) -> dict[str, Any]:
    return {
        "salesforce_lead_id": f"00Q5g{i:010d}",
        "email": f"lead{i}@example.co.jp",
        "firstname": f"太郎{i}",
        "lastname": "山田",
        "company": f"株式会社サンプル v{version}",
        "jobtitle": "部長" if version == 1 else "本部長",
    }


def _salesforce(i: int, version: int) -> dict[str, Any]:
    return {
        "HubSpot_Contact_Id__c": str(70_000 + i),
        "Email": f"lead{i}@example.co.jp",
        "FirstName": f"太郎{i}",
        "LastName": "山田",
        "Company": f"株式会社サンプル v{version}",
        "Title": "部長" if version == 1 else "本部長",
    }


def _kintone(i: int, version: int) -> dict[str, Any]:
    return {
        "hubspot_contact_id": str(70_000 + i),
        "email": f"lead{i}@example.co.jp",
        "first_name": f"太郎{i}",
        "last_name": "山田",
        "company": f"株式会社サンプル v{version}",
        "title": "部長" if version == 1 else "本部長",
    }


SYSTEMS = {
    "hubspot": System(
        "hubspot",
        "contacts",
        "salesforce_lead_id",
        100,
        "POST /crm/v3/objects/contacts/batch/upsert",
        "hubspot.batch_upsert",
        _hubspot,
        "/hubspot/contacts",
        {"email": "old@example.co.jp", "lastname": "古い"},
    ),
    "salesforce": System(
        "salesforce",
        "Lead",
        "HubSpot_Contact_Id__c",
        200,
        "PATCH composite/sobjects/Lead",
        "salesforce.upsert",
        _salesforce,
        "/salesforce/leads",
        {"LastName": "古い", "Company": "旧社", "HubSpot_Contact_Id__c": "1"},
    ),
    "kintone": System(
        "kintone",
        "1",
        "hubspot_contact_id",
        100,
        "PUT records",
        "kintone.records_update",
        _kintone,
        "/kintone/apps/1/records",
        {"company": "旧社", "hubspot_contact_id": "1"},
    ),
}
NAMES = list(SYSTEMS)


@pytest.fixture
def connectors(sandbox: Sandbox) -> dict[str, Connector]:  # noqa: F811 (the imported fixture)
    built, problems = load_connectors(sandbox.env())
    assert problems == []
    return built


@pytest.fixture
def timed(sandbox: Sandbox) -> tuple[dict[str, Connector], FakeClock]:  # noqa: F811
    """The same connectors on a clock the test moves (the sandbox keeps its own)."""
    clock_ = FakeClock(START)
    built, problems = load_connectors(sandbox.env(), clock=clock_)
    assert problems == []
    return built, clock_


def _mapping(name: str) -> dict[str, Any]:
    return YAML(typ="safe").load((SHIPPED_MAPPINGS / f"{name}.yaml").read_text(encoding="utf-8"))


def test_check_authenticates_and_reads_through_the_sandbox(connectors, sandbox):  # noqa: F811
    assert "contacts readable" in connectors["hubspot"].check()
    assert "client credentials login to http://127.0.0.1" in connectors["salesforce"].check()
    assert "app 1 records readable" in connectors["kintone"].check()
    assert sandbox.calls.count("hubspot.search", 200) == 1
    assert sandbox.calls.count("salesforce.token", 200) == 1
    assert sandbox.calls.count("salesforce.query", 200) == 1
    assert sandbox.calls.count("kintone.records_read", 200) == 1


def test_describe_covers_every_field_the_shipped_mappings_use(connectors, sandbox):  # noqa: F811
    to_lead = _mapping("hubspot-contact-to-salesforce-lead")
    to_kintone = _mapping("hubspot-contact-to-kintone")
    app = to_kintone["target"]["object"].replace("${KINTONE_APP_ID}", sandbox.env()["KINTONE_APP_ID"])
    assert app == "1"

    contacts = connectors["hubspot"].describe(to_lead["source"]["object"])
    lead = connectors["salesforce"].describe(to_lead["target"]["object"])
    kintone = connectors["kintone"].describe(app)

    for mapping, target in ((to_lead, lead), (to_kintone, kintone)):
        sources = {f["source"] for f in mapping["fields"] if "source" in f}
        assert {s for s in sources if not s.startswith("bridge.")} <= set(contacts)
        assert {f["target"] for f in mapping["fields"] if not f["target"].startswith("bridge.")} <= set(target)
        assert target[mapping["target"]["key"]].unique
        assert contacts[mapping["source"]["key"]].unique
    assert {n for n, f in lead.items() if f.required} == {"LastName", "Company"}
    assert lead["Email"].type == "email"
    assert "1000+" in contacts["numemployees"].options
    assert contacts["salesforce_lead_id"].unique
    assert kintone["company"].required
    assert kintone["email"].type == "email"
    assert kintone["industry"].options[0] == "製造業"


@pytest.mark.parametrize("name", NAMES)
def test_upsert_read_and_changes_round_trip(name, connectors, sandbox, clock, control):  # noqa: F811
    system, connector = SYSTEMS[name], connectors[name]
    with_webhooks_off = {"records": [system.stale], "webhooks": False}
    assert control.post(system.seed_path, json=with_webhooks_off).status_code == 201
    fields = [f for f in system.record(0, 1) if f != system.key]

    # Mid-minute on purpose: kintone keeps times to the minute, so records saved at 00:05:50 read
    # 00:05:00, and changes since 00:05:40 must still find them.
    clock.advance(minutes=5, seconds=30)
    created = connector.upsert(system.object, system.key, system.records(1))
    batches = math.ceil(COUNT / system.batch)
    assert [r.key for r in created] == [str(r[system.key]) for r in system.records(1)]
    assert {r.outcome for r in created} == {"created"}
    assert all(r.id for r in created) and len({r.id for r in created}) == COUNT
    assert connector.calls[system.upsert_label] == batches
    assert sandbox.calls.count(system.upsert_endpoint, 200) == batches

    clock.advance(seconds=20)
    updated = connector.upsert(system.object, system.key, system.records(2))
    assert {r.outcome for r in updated} == {"updated"}
    assert [r.id for r in updated] == [r.id for r in created]
    assert connector.calls[system.upsert_label] == 2 * batches
    assert sandbox.calls.count(system.upsert_endpoint) == 2 * batches

    ids = [r.id for r in created]
    found = connector.read(system.object, ids, fields)
    assert sorted(found) == sorted(ids)
    for result, sent in zip(created, system.records(2), strict=True):
        assert {f: found[result.id][f] for f in fields} == {f: sent[f] for f in fields}

    since = START + timedelta(minutes=5, seconds=40)  # after the creates, before the updates
    changed = list(connector.changed_since(system.object, since, [system.key, *fields]))
    by_key = {str(r[system.key]): r for r in changed}
    assert len(changed) == COUNT  # each once, and not the record saved at START
    assert set(by_key) == {str(r[system.key]) for r in system.records(2)}
    for sent in system.records(2):
        assert {f: by_key[str(sent[system.key])][f] for f in fields} == {f: sent[f] for f in fields}


def test_salesforce_lead_without_required_fields_fails_alone_and_names_them(connectors, sandbox):  # noqa: F811
    system = SYSTEMS["salesforce"]
    good, bad = system.record(0, 1), system.record(1, 1)
    del bad["LastName"], bad["Company"]
    results = connectors["salesforce"].upsert("Lead", system.key, [good, bad])
    assert [r.outcome for r in results] == ["created", "failed"]
    failed = results[1]
    assert failed.key == bad[system.key]
    assert failed.category == "permanent"
    assert failed.code == "REQUIRED_FIELD_MISSING"
    assert set(failed.fields) == {"LastName", "Company"}
    assert "LastName" in (failed.message or "")
    assert sandbox.calls.count("salesforce.upsert") == 1  # permanent: not re-sent
    assert len(sandbox.salesforce.store.all()) == 1


@pytest.mark.parametrize(
    ("name", "breaks", "code", "fields"),
    [
        ("hubspot", {"numemployees": "たくさん"}, "VALIDATION_ERROR", ("numemployees",)),
        ("kintone", {"company": ""}, "CB_VA01", ("company",)),
    ],
)
def test_an_invalid_record_fails_alone_with_its_field(name, breaks, code, fields, connectors, sandbox):  # noqa: F811
    system = SYSTEMS[name]
    records = system.records(1, 3)
    records[1].update(breaks)
    results = connectors[name].upsert(system.object, system.key, records)
    assert [r.outcome for r in results] == ["created", "failed", "created"]
    assert (results[1].category, results[1].code, results[1].fields) == ("permanent", code, fields)
    assert results[1].key == str(records[1][system.key])
    read = connectors[name].read(system.object, [results[0].id, results[2].id], ["email"])
    assert sorted(r["email"] for r in read.values()) == ["lead0@example.co.jp", "lead2@example.co.jp"]


@pytest.mark.parametrize("name", NAMES)
def test_an_injected_503_comes_back_after_one_call_and_the_next_call_succeeds(name, timed, sandbox, control):  # noqa: F811
    connectors_, _ = timed
    system, connector = SYSTEMS[name], connectors_[name]
    reply = control.post("/failures", json={"endpoint": system.upsert_endpoint, "status": 503})
    assert reply.status_code == 201
    with pytest.raises(Transient):
        connector.upsert(system.object, system.key, system.records(1, 3))
    assert sandbox.calls.count(system.upsert_endpoint, 503) == 1
    assert sandbox.calls.count(system.upsert_endpoint) == 1  # not sent again by the connector
    assert control.get("/failures").json() == []
    results = connector.upsert(system.object, system.key, system.records(1, 3))
    assert [r.outcome for r in results] == ["created"] * 3
    assert sandbox.calls.count(system.upsert_endpoint, 200) == 1
    assert connector.calls[system.upsert_label] == 2


@pytest.mark.parametrize("name", NAMES)
def test_an_injected_429_comes_back_with_its_retry_after_and_then_succeeds(name, timed, sandbox, control):  # noqa: F811
    connectors_, clock_ = timed
    system, connector = SYSTEMS[name], connectors_[name]
    control.post("/failures", json={"endpoint": system.upsert_endpoint, "status": 429, "retry_after": 7})
    with pytest.raises(RateLimited) as caught:
        connector.upsert(system.object, system.key, system.records(1, 2))
    assert caught.value.retry_after == 7.0  # the header's value, not a default
    assert sandbox.calls.count(system.upsert_endpoint, 429) == 1
    clock_.advance(seconds=7)
    results = connector.upsert(system.object, system.key, system.records(1, 2))
    assert [r.outcome for r in results] == ["created", "created"]
    assert sandbox.calls.count(system.upsert_endpoint, 200) == 1
    assert connector.calls[system.upsert_label] == 2


def test_a_burst_past_hubspots_budget_is_refused_before_the_sandbox_sees_it(sandbox):  # noqa: F811
    clock_ = FakeClock(START)
    built, _ = load_connectors({**sandbox.env(), "HUBSPOT_TIER": "free"}, clock=clock_)  # 90 calls in 10 s
    hubspot, system = built["hubspot"], SYSTEMS["hubspot"]
    for _ in range(89):
        hubspot.describe("contacts")
    records = system.records(1, 200)  # two calls: the first is the 90th, the second finds no call left
    results = hubspot.upsert(system.object, system.key, records)
    assert [r.outcome for r in results] == ["created"] * 100 + ["failed"] * 100
    assert {(r.category, type(r.error)) for r in results[100:]} == {("retriable", RateLimited)}
    assert sandbox.calls.count(system.upsert_endpoint) == hubspot.calls[system.upsert_label] == 1
    clock_.advance(seconds=results[100].error.retry_after)
    again = hubspot.upsert(system.object, system.key, records[100:])
    assert {r.outcome for r in again} == {"created"}
    assert sandbox.calls.count(system.upsert_endpoint, 200) == 2
