"""The handoff pipeline against the sandbox over loopback: webhook → batch read → evaluation → outbox → targets."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from bridge.app import create_app
from bridge.store import Store
from bridge.worker.run import Worker
from connectors.sandbox import RunningSandbox, Sandbox, serve
from tests.conftest import BASE_ENV
from tests.helpers import hubspot_event, make_worker, post_hubspot

TOKEN = BASE_ENV["BRIDGE_ACTIVITIES_TOKEN"]
WORKED_EXAMPLE = {"email": "Taro.Yamada@Example.co.jp", "firstname": "太郎", "lastname": "山田",
                  "company": "株式会社サンプル", "jobtitle": "営業部長", "industry": "SaaS", "numemployees": "100-500"}


@dataclass
class World:
    sandbox: RunningSandbox
    client: object
    store: Store
    pipeline: Worker
    secret: str
    mappings: Path

    def contacts(self, *records: dict) -> list[str]:
        """Contacts created in the sandbox's HubSpot, announced to Bridge by signed creation webhooks."""
        ids = requests.post(f"{self.sandbox.base_url}/_sandbox/hubspot/contacts",
                            json={"records": list(records), "webhooks": False}, timeout=10).json()["ids"]
        events = [hubspot_event(int(i), object_id=int(i), subscriptionType="contact.creation",
                                propertyName=None, propertyValue=None) for i in ids]
        for start in range(0, len(events), 100):
            assert post_hubspot(self.client, events[start:start + 100], secret=self.secret).status_code == 200
        return ids

    def activities(self, *items: dict) -> None:
        for start in range(0, len(items), 1000):
            response = self.client.post("/api/activities", json=list(items[start:start + 1000]),
                                        headers={"Authorization": f"Bearer {TOKEN}"})
            assert response.status_code == 202, response.json

    def drain(self) -> None:
        self.pipeline.drain()

    def sf_leads(self) -> list[dict]:
        return list(self.sandbox.sandbox.salesforce.store.all())

    def hubspot(self, contact_id: str) -> dict:
        return requests.get(f"{self.sandbox.base_url}/_sandbox/hubspot/contacts/{contact_id}",
                            timeout=10).json()["properties"]

    def calls(self, endpoint: str) -> int:
        return self.sandbox.sandbox.calls.count(endpoint)


def act(n: str, type_: str, minutes_ago: int = 5, **key) -> dict:
    when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {"id": n, "type": type_, "occurred_at": when.isoformat(), **key}


@pytest.fixture
def world(make_settings, tmp_path):
    with serve(Sandbox()) as running:
        settings = make_settings(**running.sandbox.env(), BRIDGE_BATCH_LINGER_MS="0")
        app = create_app(settings)
        store = app.extensions["bridge"].store
        yield World(running, app.test_client(), store, make_worker(app, drain=True),
                    running.sandbox.config.hubspot.client_secret, tmp_path)


def test_worked_example_85_waits_then_pricing_visit_hands_off_once(world):
    (contact,) = world.contacts(WORKED_EXAMPLE)
    world.activities(act("wp-1", "whitepaper_download", hubspot_id=contact),
                     act("wp-2", "whitepaper_download", hubspot_id=contact))
    world.drain()
    lead = world.store.leads.find(hubspot_id=contact)
    assert (lead["score"], lead["handed_off_at"]) == (85, None)
    assert "pricing_page_visit 0 < 1" in lead["summary"]
    assert world.sf_leads() == []

    world.activities(act("price-1", "pricing_page_visit", email="TARO.YAMADA@example.co.jp"))
    world.drain()
    lead = world.store.leads.find(hubspot_id=contact)
    assert lead["score"] == 115 and lead["handed_off_at"] and lead["handoff_reason"].startswith("handoff by")
    (sf,) = world.sf_leads()
    assert sf["HubSpot_Contact_Id__c"] == contact and sf["LastName"] == "山田" and sf["Bridge_Score__c"] == 115
    assert lead["records"]["salesforce"] == sf["Id"]
    written = world.hubspot(contact)
    assert written["lifecyclestage"] == "marketingqualifiedlead"
    assert (written["bridge_score"], written["bridge_stage"], written["bridge_temperature"]) == \
        ("115", "consideration", "hot")
    assert written["salesforce_lead_id"] == sf["Id"]
    sla = world.store.clocks.current(lead["id"])  # the SLA clock started at the handoff, under the hot policy
    assert (sla["policy"], sla["state"], sla["started_at"]) == ("hot", "waiting", lead["handed_off_at"])
    # The contact was read once when created; activities (by id or by its known email) do not re-read it.
    assert world.calls("hubspot.batch_read") == 1


def test_duplicated_and_reordered_events_hand_off_once(world):
    (contact,) = world.contacts(WORKED_EXAMPLE)
    items = [act("p", "pricing_page_visit", 1, hubspot_id=contact), act("w1", "whitepaper_download", 9,
             hubspot_id=contact), act("w2", "whitepaper_download", 7, hubspot_id=contact)]
    world.activities(*items)
    world.activities(*reversed(items))  # a sender retrying, out of order
    world.drain()
    world.contacts()  # nothing new
    post_hubspot(world.client, [hubspot_event(77, object_id=int(contact), propertyName="jobtitle",
                                              propertyValue="営業部長")], secret=world.secret)
    world.activities(act("p2", "pricing_page_visit", 0, hubspot_id=contact))  # crosses again: no second handoff
    world.drain()
    assert len(world.sf_leads()) == 1
    upserts = world.store.outbox.items(lead_id=world.store.leads.find(hubspot_id=contact)["id"])
    assert sorted((i["kind"], i["status"]) for i in upserts) == \
        [("notify", "done"), ("upsert", "done"), ("writeback", "done")]


def test_write_back_echo_is_ignored(world):
    (contact,) = world.contacts(WORKED_EXAMPLE)
    world.activities(*(act(f"a{n}", kind, hubspot_id=contact) for n, kind in
                       enumerate(["whitepaper_download", "whitepaper_download", "pricing_page_visit"])))
    world.drain()
    reads = world.calls("hubspot.batch_read")
    echo = hubspot_event(900, object_id=int(contact), propertyName="bridge_score", propertyValue="115")
    genuine = hubspot_event(901, object_id=int(contact), propertyName="bridge_score", propertyValue="7")
    post_hubspot(world.client, [echo], secret=world.secret)
    world.drain()
    assert world.store.changes.list(f"contact:{contact}")[-1]["change_type"] == "echo"
    assert world.store.leads.find(hubspot_id=contact)["dirty"] == 0
    assert world.calls("hubspot.batch_read") == reads  # nothing was read or evaluated
    post_hubspot(world.client, [genuine], secret=world.secret)  # someone else changed it: not an echo
    world.drain()
    assert world.calls("hubspot.batch_read") == reads + 1


def test_activity_before_the_contact_merges_into_it(world):
    world.activities(act("early-1", "whitepaper_download", email="taro.yamada@example.co.jp"))
    world.drain()  # not in HubSpot yet: evaluated on what is known, nothing handed off
    (contact,) = world.contacts(WORKED_EXAMPLE)
    world.activities(act("early-2", "whitepaper_download", hubspot_id=contact),
                     act("early-3", "pricing_page_visit", hubspot_id=contact))
    world.drain()
    lead = world.store.leads.find(email="taro.yamada@example.co.jp")
    assert lead["hubspot_id"] == contact and lead["score"] == 115 and lead["handed_off_at"]
    assert len(world.store.leads.activities(lead["id"])) == 3
    assert world.store.conn.db.execute("SELECT COUNT(*) FROM leads").fetchone()[0] == 1


def test_excluded_lead_is_never_handed_off(world):
    (contact,) = world.contacts({**WORKED_EXAMPLE, "email": "taro@gmail.com"})
    world.activities(*(act(f"x{n}", "pricing_page_visit", hubspot_id=contact) for n in range(5)))
    world.drain()
    lead = world.store.leads.find(hubspot_id=contact)
    assert lead["excluded"] and lead["handed_off_at"] is None and world.sf_leads() == []


def test_500_handoffs_cost_three_salesforce_calls(world):
    """Batches fill while the clock stands still: two full Salesforce calls of 200, then the last 100 once they
    have waited the linger (300 ms), on an injected clock."""
    ids = world.contacts(*({**WORKED_EXAMPLE, "email": f"lead{n}@example.co.jp"} for n in range(500)))
    world.activities(*(act(f"{c}-{kind}", kind, hubspot_id=c) for c in ids
                       for kind in ("whitepaper_download", "seminar_attended")))
    now = [datetime.now(UTC)]
    services = world.client.application.extensions["bridge"]
    lingering = replace(services.settings, worker=replace(services.settings.worker, linger_seconds=0.3))
    worker = Worker(lingering, world.store, services.connectors, lambda: now[0], owner="lingering")
    worker.drain()
    assert world.calls("salesforce.upsert") == 2 and len(world.sf_leads()) == 400
    now[0] += timedelta(seconds=1)
    worker.drain()
    assert len(world.sf_leads()) == 500
    assert world.calls("salesforce.upsert") == 3  # ⌈500 / 200⌉
    assert world.calls("hubspot.batch_read") == 5  # ⌈500 / 100⌉
    assert world.calls("hubspot.batch_update") == 5


def test_permanent_error_is_a_dead_letter_until_the_mapping_is_fixed(world):
    route = world.mappings / "hubspot-contact-to-salesforce-lead.yaml"
    good = route.read_text(encoding="utf-8")
    # Break the mapping the way an admin might: Company loses its default, so Salesforce refuses the lead.
    route.write_text(good.replace("    default: (不明)                    # Salesforce では会社名が必須", "    # "),
                     encoding="utf-8")
    assert world.pipeline.mappings.refresh()
    (contact,) = world.contacts({**WORKED_EXAMPLE, "company": None})
    world.activities(*(act(f"d{n}", kind, hubspot_id=contact) for n, kind in
                       enumerate(["whitepaper_download", "whitepaper_download", "pricing_page_visit"])))
    world.drain()
    (dead,) = world.store.outbox.items(status="dead")
    assert "REQUIRED_FIELD_MISSING" in dead["last_error"] and json.loads(dead["fields"]) == ["Company"]
    assert world.sf_leads() == []
    # HubSpot still hears about the handoff (score, stage), without a Salesforce id.
    assert world.hubspot(contact)["salesforce_lead_id"] is None

    route.write_text(good, encoding="utf-8")
    assert world.pipeline.mappings.refresh()
    assert world.store.outbox.replay([dead["id"]], datetime.now(UTC)) == 1
    world.drain()
    (sf,) = world.sf_leads()
    assert sf["Company"] == "(不明)"
    assert world.hubspot(contact)["salesforce_lead_id"] == sf["Id"]


def test_both_targets_when_the_kintone_route_is_enabled(world):
    route = world.mappings / "hubspot-contact-to-kintone.yaml"
    route.write_text(route.read_text(encoding="utf-8").replace("enabled: false", "enabled: true"), encoding="utf-8")
    assert world.pipeline.mappings.refresh()
    (contact,) = world.contacts(WORKED_EXAMPLE)
    world.activities(*(act(f"k{n}", kind, hubspot_id=contact) for n, kind in
                       enumerate(["whitepaper_download", "whitepaper_download", "pricing_page_visit"])))
    world.drain()
    records = requests.get(f"{world.sandbox.base_url}/_sandbox/kintone/apps/1/records", timeout=10).json()
    (record,) = records if isinstance(records, list) else records["records"]
    lead = world.store.leads.find(hubspot_id=contact)
    assert lead["records"]["kintone"] and lead["records"]["salesforce"]
    written = world.hubspot(contact)
    assert (written["kintone_record_id"], written["salesforce_lead_id"]) == \
        (lead["records"]["kintone"], lead["records"]["salesforce"])
    assert contact in json.dumps(record, ensure_ascii=False)


def test_without_hubspot_api_access_nobody_is_handed_off_and_the_reason_says_why(make_settings):
    settings = make_settings(BRIDGE_BATCH_LINGER_MS="0")  # webhooks verified, but no HUBSPOT_ACCESS_TOKEN
    app = create_app(settings)
    store = app.extensions["bridge"].store
    client = app.test_client()
    post_hubspot(client, [hubspot_event(1, object_id=42, subscriptionType="contact.creation")])
    client.post("/api/activities", headers={"Authorization": f"Bearer {TOKEN}"},
                json=[act(f"n{n}", "seminar_attended", hubspot_id="42") for n in range(3)])
    make_worker(app).drain()
    lead = store.leads.find(hubspot_id="42")
    assert lead["score"] == 120 and lead["handed_off_at"] is None
    assert "HubSpot API access is not configured (HUBSPOT_ACCESS_TOKEN)" in lead["summary"]
    assert store.outbox.counts()["pending"] == 0


def test_a_configured_property_change_counts_as_an_activity(world):
    rules = world.mappings / "handoff.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace(
        "property_activities: {}", "property_activities:\n  last_seminar_date: seminar_attended"), encoding="utf-8")
    assert world.pipeline.mappings.refresh()
    (contact,) = world.contacts(WORKED_EXAMPLE)
    world.drain()
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)  # today's date, whatever it is: the suite runs on any date
    stamp = hubspot_event(300, object_id=int(contact), propertyName="last_seminar_date",
                          propertyValue=an_hour_ago.date().isoformat(), occurredAt=int(an_hour_ago.timestamp() * 1000))
    post_hubspot(world.client, [stamp, stamp], secret=world.secret)  # a duplicate delivery counts once
    world.drain()
    lead = world.store.leads.find(hubspot_id=contact)
    assert [a["type"] for a in world.store.leads.activities(lead["id"])] == ["seminar_attended"]
    assert lead["score"] == 85 and lead["handed_off_at"] and "seminar" in lead["handoff_reason"]


def test_a_lead_given_back_qualifies_again_and_hubspot_starts_its_new_cycle_afresh(world):
    (contact,) = world.contacts(WORKED_EXAMPLE)
    world.activities(act("p1", "pricing_page_visit", 30, hubspot_id=contact),
                     act("w1", "whitepaper_download", 29, hubspot_id=contact),
                     act("w2", "whitepaper_download", 28, hubspot_id=contact))
    world.drain()
    lead = world.store.leads.find(hubspot_id=contact)
    now = datetime.now(UTC)
    with world.store.unit_of_work() as work:  # sales disqualifies it for no budget: what the feedback stage does
        work.sales.add_event(lead["id"], 1, "disqualified", "salesforce", "Lead", lead["records"]["salesforce"],
                             now, "no_budget", "No Budget", {}, now)
        assert work.sales.reopen(lead["id"], "disqualified", "no_budget", now)
        work.outbox.enqueue(lead["id"], "feedback", "hubspot", now)
    world.drain()
    told = world.hubspot(contact)
    assert (told["lifecyclestage"], told["hs_lead_status"], told["bridge_sales_outcome"]) == \
        ("other", "UNQUALIFIED", "disqualified")

    world.activities(act("p2", "pricing_page_visit", 0, hubspot_id=contact),  # the new cycle counts anew
                     act("w3", "whitepaper_download", 0, hubspot_id=contact),
                     act("w4", "whitepaper_download", 0, hubspot_id=contact))
    world.drain()
    again = world.store.leads.find(hubspot_id=contact)
    assert again["cycle"] == 2 and again["handed_off_at"] > lead["handed_off_at"]
    told = world.hubspot(contact)
    # Back from "other" to MQL, which HubSpot allows only after clearing; the last cycle's word cleared.
    assert (told["lifecyclestage"], told["hs_lead_status"]) == ("marketingqualifiedlead", "NEW")
    assert not told.get("bridge_sales_outcome") and not told.get("bridge_sales_reason")  # cleared
    world.activities(act("p3", "pricing_page_visit", 0, hubspot_id=contact))
    world.drain()
    assert world.store.leads.find(hubspot_id=contact)["handed_off_at"] == again["handed_off_at"]  # once per cycle
    assert len(world.sf_leads()) == 1  # the same Salesforce Lead, written again
