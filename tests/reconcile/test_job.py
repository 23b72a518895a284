"""The reconciliation job over in-memory systems: a plan changes nothing, --doit queues exactly the plan's repairs,
the guardrail refuses and --force passes, incremental runs read only what changed, a killed run is re-run, a rate
limit is waited out where the read stopped, and a run stops at its share of the daily allowance."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bridge.jobs.reconcile import Reconciler
from bridge.kernel.errors import RateLimited
from bridge.live import LiveMappings
from bridge.store import Store

T0 = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # 02:00 in Tokyo on 12/2
ROUTE = "hubspot-contact-to-salesforce-lead"


class FakeSystem:
    """One system's records in memory, read the way connectors read: pages in id order, changed since, by ids."""

    def __init__(self, name: str, id_field: str, stamp: str, page: int = 2):
        self.name, self.id_field, self.stamp, self.page = name, id_field, stamp, page
        self.records: dict[str, dict] = {}
        self.deleted: list[tuple[str, datetime]] = []
        self.calls: Counter[str] = Counter()
        self.refusals: list[Exception] = []  # raised, one per call, before the next page

    def api_problem(self):
        return None

    def change_fields(self, object):
        return (self.stamp, "LastModifiedById" if self.name == "salesforce" else None)

    def _call(self, endpoint: str) -> None:
        if self.refusals:
            raise self.refusals.pop(0)
        self.calls[endpoint] += 1

    def scan(self, object, fields, after=None):
        ids = sorted((i for i in self.records if after is None or int(i) > int(after)), key=int)
        for start in range(0, max(len(ids), 1), self.page):
            self._call("scan")
            for record_id in ids[start:start + self.page]:
                yield dict(self.records[record_id])

    def changed_since(self, object, since, fields):
        self._call("changed")
        stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        yield from (dict(r) for r in self.records.values() if str(r[self.stamp]) >= stamp)

    def read(self, object, ids, fields, id_field=None):
        self._call("read")
        key = id_field or self.id_field
        wanted = {str(i) for i in ids}
        return {str(r[key]): dict(r) for r in self.records.values() if str(r.get(key)) in wanted}

    def deleted_since(self, object, since, now):
        return [(i, at) for i, at in self.deleted if at >= since] if self.name == "salesforce" else None


def contact(n: int, **extra) -> dict:
    return {"hs_object_id": str(n), "email": f"p{n}@example.jp", "lastname": "山田", "firstname": f"{n}郎",
            "company": "サンプル", "bridge_score": "120", "bridge_stage": "consideration", "bridge_temperature": "hot",
            "lastmodifieddate": "2026-11-20T00:00:00Z", **extra}


def sf_lead(n: int, **extra) -> dict:
    return {"Id": str(5000 + n), "HubSpot_Contact_Id__c": str(n), "Email": f"p{n}@example.jp", "LastName": "山田",
            "FirstName": f"{n}郎", "Company": "サンプル", "LeadSource": "Web", "LastModifiedById": "005INTEGRATION",
            "SystemModstamp": "2026-11-20T00:00:00Z", **extra}


@pytest.fixture
def world(make_settings):
    settings = make_settings()
    settings = replace(settings, reconcile=replace(settings.reconcile, max_change=0.5))
    store = Store(settings.db_path)
    hubspot = FakeSystem("hubspot", "hs_object_id", "lastmodifieddate")
    salesforce = FakeSystem("salesforce", "Id", "SystemModstamp")
    for n in range(1, 5):
        hubspot.records[str(n)] = contact(n)
        salesforce.records[str(5000 + n)] = sf_lead(n)
        lead = _lead(store, n)
        with store.unit_of_work() as work:
            work.leads.link_records([(lead, "salesforce", "Lead", str(5000 + n), T0 - timedelta(days=10))])
    return settings, store, hubspot, salesforce


def _lead(store: Store, n: int) -> int:
    at = T0 - timedelta(days=10)
    with store.unit_of_work() as work:
        lead = work.leads.touch(at, hubspot_id=str(n))
        work.leads.save_record(lead, 1, str(n), f"p{n}@example.jp", json.dumps(contact(n)), at)
        work.leads.save_decisions([(lead, 1, {"score": 120, "stage": "consideration", "temperature": "hot",
                                              "qualifies": True, "excluded": None, "criterion": "pricing",
                                              "explanation": []}, "pricing", at)])
        work.leads.mark_handed_off(lead, "pricing", "handoff by pricing", at)
    return lead


def reconciler(world, now=None, waits=None, **settings_changes):
    settings, store, hubspot, salesforce = world
    clock = now or (lambda: T0)
    waited = waits if waits is not None else []
    mappings = LiveMappings(settings)
    return Reconciler(store, lambda: mappings.routes, lambda: mappings.feedback,
                      {"hubspot": hubspot, "salesforce": salesforce},
                      replace(settings.reconcile, **settings_changes), clock, lambda s: waited.append(s) or True)


def outbox(store: Store) -> list[tuple[int, str, str]]:
    return sorted((i["lead_id"], i["kind"], i["target"]) for i in store.outbox.items(status="pending"))


def test_agreeing_systems_have_nothing_to_report(world):
    result = reconciler(world).run(full=True)
    assert result.status == "planned" and result.plan.items == []
    assert result.plan.compared == {"hubspot": 4, "salesforce": 4}


def test_a_plan_changes_nothing_and_doit_queues_exactly_its_repairs(world):
    settings, store, hubspot, salesforce = world
    salesforce.records["5001"]["Company"] = "手で直した会社"  # a rep's edit; HubSpot's value wins (to_target)
    del salesforce.records["5002"]  # deleted in Salesforce: a person decides
    salesforce.deleted.append(("5002", T0 - timedelta(hours=3)))
    hubspot.records["3"]["bridge_score"] = "10"  # HubSpot's copy of the score is stale
    before = outbox(store)
    planned = reconciler(world).run()
    kinds = sorted((d.kind, d.action, d.lead_id) for d in planned.plan.items)
    assert kinds == [("deleted", "person", 2), ("differs", "upsert", 1), ("stale", "writeback", 3)]
    assert outbox(store) == before  # a plan only reads
    run = store.reconciliations.run(planned.run_id)
    assert run["status"] == "planned" and run["found"] == {"deleted": 1, "differs": 1, "stale": 1}

    applied = reconciler(world).run(doit=True)
    assert applied.status == "applied" and applied.repaired == 2
    assert outbox(store) == sorted([*before, (1, "repair", ROUTE), (3, "writeback", "hubspot")])
    items = store.reconciliations.items(applied.run_id)
    assert {i["kind"]: bool(i["repaired_at"]) for i in items} == {"deleted": False, "differs": True, "stale": True}
    # The repair is built from HubSpot as read now, not from what Bridge last kept.
    hubspot.records["4"].update(company="新社名", lastmodifieddate="2026-12-01T16:55:00Z")  # its webhook was lost
    assert reconciler(world).run(doit=True, force=True).status == "applied"
    assert json.loads(store.leads.get(4)["properties"])["company"] == "新社名"


def test_the_guardrail_refuses_a_plan_that_changes_too_much_unless_forced(world):
    settings, store, hubspot, salesforce = world
    for n in (1, 2):
        salesforce.records[str(5000 + n)]["Company"] = "違う"
    before = outbox(store)
    refused = reconciler(world, max_change=0.05).run(doit=True)
    assert refused.status == "refused" and outbox(store) == before
    assert store.reconciliations.run(refused.run_id)["share"] == pytest.approx(0.5)
    forced = reconciler(world, max_change=0.05).run(doit=True, force=True)
    assert forced.status == "applied" and len(outbox(store)) == len(before) + 2


def test_an_incremental_run_reads_only_what_changed_since_the_last(world):
    settings, store, hubspot, salesforce = world
    assert reconciler(world).run(doit=True).plan.compared == {"hubspot": 4, "salesforce": 4}
    later = T0 + timedelta(days=1)
    salesforce.records["5003"].update(Company="変更", SystemModstamp="2026-12-02T10:00:00Z")
    result = reconciler(world, now=lambda: later).run()
    assert result.plan.mode == "incremental"
    assert [(d.kind, d.lead_id, d.field) for d in result.plan.items] == [("differs", 3, "Company")]
    assert result.plan.compared == {"hubspot": 1, "salesforce": 1}
    assert salesforce.calls["scan"] == 2  # only the first (full) run paged through everything: 4 records, 2 a page


def test_a_run_killed_half_way_is_marked_and_the_next_one_finishes(world):
    settings, store, hubspot, salesforce = world

    class Killed(BaseException):
        pass

    salesforce.refusals.append(Killed())
    with pytest.raises(Killed):
        reconciler(world).run(full=True)
    killed = store.reconciliations.runs(limit=1)[0]
    assert killed["status"] == "running"
    result = reconciler(world).run(full=True)
    assert result.status == "planned"
    assert store.reconciliations.run(killed["id"])["status"] == "interrupted"


def test_a_rate_limit_is_waited_out_and_the_read_resumes_where_it_stopped(world):
    settings, store, hubspot, salesforce = world
    waits: list[float] = []
    original = salesforce.scan

    def refusing_scan(object, fields, after=None):
        for n, record in enumerate(original(object, fields, after)):
            if after is None and n == 2:  # the second page is refused: 429 with Retry-After: 7
                raise RateLimited("salesforce", "REQUEST_LIMIT_EXCEEDED", retry_after=7.0)
            yield record

    salesforce.scan = refusing_scan
    hubspot.refusals.append(RateLimited("hubspot", "TEN_SECONDLY_ROLLING", retry_after=3.0))
    result = reconciler(world, waits=waits).run(full=True)
    assert sorted(waits) == [3.0, 7.0] and result.status == "planned" and result.plan.items == []
    assert result.plan.compared == {"hubspot": 4, "salesforce": 4}
    assert salesforce.calls["scan"] == 3  # pages 1 and 2, then the rest after id 5002: nothing read twice
    assert hubspot.calls["read"] == 1  # the handed-off leads' contacts, by id, once the refusal was waited out


def test_a_run_stops_at_its_share_of_the_daily_allowance(world):
    settings, store, hubspot, salesforce = world
    result = reconciler(world, daily_calls={"hubspot": 100, "salesforce": 10}, daily_share=0.1).run(full=True)
    assert result.status == "failed" and "salesforce" in result.error and "10%" in result.error
    assert store.reconciliations.run(result.run_id)["status"] == "failed"
    assert store.reconciliations.last_applied() is None  # the next run is full again


def test_a_deletion_beyond_salesforce_s_horizon_is_found_by_the_full_id_scan(world):
    settings, store, hubspot, salesforce = world
    del salesforce.records["5004"]  # deleted 20 days ago: the recycle bin has forgotten it, getDeleted says nothing
    salesforce.deleted.append(("5004", T0 - timedelta(days=20)))
    result = reconciler(world).run(full=True)
    (item,) = result.plan.items
    assert (item.kind, item.system, item.record_id, item.changed_at) == ("deleted", "salesforce", "5004", None)


def test_a_connector_that_cannot_list_its_records_fails_the_run_saying_what_to_do(world):
    settings, store, hubspot, salesforce = world

    def cannot_scan(object, fields, after=None):
        raise NotImplementedError("the salesforce connector cannot list all its records (Connector.scan), so …")

    salesforce.scan = cannot_scan
    result = reconciler(world).run(full=True)
    assert result.status == "failed" and "cannot list all its records" in result.error
    assert store.reconciliations.run(result.run_id)["error"] == result.error


def test_half_an_emoji_in_a_record_cannot_fail_the_run(world):
    settings, store, hubspot, salesforce = world
    salesforce.records["5001"]["Company"] = "株式会社\ud83d"  # a rep pasted half an emoji
    result = reconciler(world).run(full=True)
    assert result.status == "planned"
    (item,) = store.reconciliations.items(result.run_id)
    assert item["actual"] == "株式会社\\ud83d" and item["field"] == "Company"
