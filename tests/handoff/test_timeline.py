"""A lead's timeline: events (echoes marked ignored), activities, decisions explained, writes, in time order.

`handed_off_lead` builds a realistic story through the store's own methods; the API and admin-page
tests reuse it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.handoff.evaluate import Activity, evaluate
from bridge.handoff.load import load_rules
from bridge.kernel.clock import iso
from bridge.store import Store
from bridge.timeline import explain, timeline
from bridge.worker.outbox import BATCH_SIZES
from connectors.base import InboxEvent

RULES = load_rules(Path(__file__).resolve().parents[2] / "mappings")
T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
SF_ROUTE, KINTONE_ROUTE = "hubspot-contact-to-salesforce-lead", "hubspot-contact-to-kintone"
PRICING = "料金ページ閲覧 (pricing intent)"
KINTONE_ERROR = "kintone CB_VA01: 入力内容が正しくありません。 (company: 必須です。)"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _inbox_ids(store: Store, events: list[InboxEvent]) -> dict[str, int]:
    store.ingest.add_events(events, at(0))
    keys = {(e.source, e.dedupe_key) for e in events}
    rows = store.conn.db.execute("SELECT source, dedupe_key, id FROM inbox").fetchall()
    return {dedupe: row_id for source, dedupe, row_id in rows if (source, dedupe) in keys}


def handed_off_lead(store: Store, hubspot_id: str = "501", email: str = "hanako.sato@example.co.jp",
                    lastname: str = "佐藤", company: str = "株式会社ミライソフト") -> int:
    """A director at a SaaS company: a HubSpot change, two whitepapers (not yet, 85), a pricing-page
    visit (handed off, 115), a Salesforce Lead created, a kintone write dead for a missing field, and
    the echo of our own HubSpot write-back. Returns the lead's id."""
    record = {"hs_object_id": hubspot_id, "email": email, "firstname": "花子", "lastname": lastname,
              "company": company, "jobtitle": "情報システム部長", "industry": "SaaS / ソフトウェア",
              "numemployees": "100-500", "lifecyclestage": "lead"}
    key = f"contact:{hubspot_id}"
    ids = _inbox_ids(store, [
        InboxEvent("hubspot", "contact.propertyChange", f"hs-{hubspot_id}-1", key, at(0), "{}"),
        InboxEvent("hubspot", "contact.propertyChange", f"hs-{hubspot_id}-2", key, at(187), "{}"),
        InboxEvent("activities", "whitepaper_download", f"wp-{hubspot_id}-1", key, at(60), "{}"),
        InboxEvent("activities", "whitepaper_download", f"wp-{hubspot_id}-2", key, at(90), "{}"),
        InboxEvent("activities", "pricing_page_visit", f"pv-{hubspot_id}-1", key, at(180), "{}"),
    ])
    with store.unit_of_work() as work:
        lead_id = work.leads.touch(at(1), hubspot_id=hubspot_id, refresh=True)
        work.changes.record(ids[f"hs-{hubspot_id}-1"], "hubspot", key, "property", iso(at(0)),
                            json.dumps({"jobtitle": "情報システム部長"}, ensure_ascii=False), at(1), lead_id)
        lead_id = work.leads.save_record(lead_id, 1, hubspot_id, email, json.dumps(record, ensure_ascii=False),
                                         at(2))
        activities = []
        for dedupe, kind, minute, properties in ((f"wp-{hubspot_id}-1", "whitepaper_download", 60,
                                                  {"title": "MA導入ガイド"}),
                                                 (f"wp-{hubspot_id}-2", "whitepaper_download", 90, None)):
            work.leads.add_activity(dedupe, lead_id, kind, iso(at(minute)),
                                    json.dumps(properties, ensure_ascii=False) if properties else None, ids[dedupe],
                                    at(minute))
            activities.append(Activity(kind, at(minute)))
        first = evaluate(record, activities, RULES, at(120))
        work.leads.save_decision(lead_id, 1, first.as_dict(), first.summary(), at(120))
    with store.unit_of_work() as work:
        work.leads.add_activity(f"pv-{hubspot_id}-1", lead_id, "pricing_page_visit", iso(at(180)),
                                json.dumps({"url": "https://example.co.jp/pricing"}), ids[f"pv-{hubspot_id}-1"],
                                at(180))
        activities.append(Activity("pricing_page_visit", at(180)))
        second = evaluate(record, activities, RULES, at(185))
        work.leads.save_decision(lead_id, 1, second.as_dict(), second.summary(), at(185))
        assert work.leads.mark_handed_off(lead_id, second.criterion, second.summary(), at(185))
        work.outbox.enqueue(lead_id, "upsert", SF_ROUTE, at(185))
        work.outbox.enqueue(lead_id, "upsert", KINTONE_ROUTE, at(185))
    for _ in range(2):  # one (kind, target) group per claim
        for item in store.outbox.claim("test-worker", at(186), 60, BATCH_SIZES, timedelta(0)):
            with store.unit_of_work() as work:
                if item["target"] == SF_ROUTE:
                    work.outbox.complete(item["id"], "test-worker", at(186), json.dumps(
                        {"outcome": "created", "system": "salesforce", "object": "Lead",
                         "id": f"00Q5g0000{hubspot_id}"}))
                    work.leads.link_record(lead_id, "salesforce", "Lead", f"00Q5g0000{hubspot_id}", at(186))
                else:
                    work.outbox.bury(item["id"], "test-worker", at(186), KINTONE_ERROR, ["company"])
    with store.unit_of_work() as work:  # the webhook caused by our own write-back of the score
        work.changes.record(ids[f"hs-{hubspot_id}-2"], "hubspot", key, "echo", iso(at(187)),
                            json.dumps({"bridge_score": "115"}), at(188), lead_id)
    return lead_id


def test_the_timeline_tells_the_lead_story_in_time_order(store):
    lead_id = handed_off_lead(store)
    found = timeline(store, lead_id)
    lead = found["lead"]
    assert (lead["email"], lead["hubspot_id"], lead["name"], lead["company"]) == \
        ("hanako.sato@example.co.jp", "501", "佐藤 花子", "株式会社ミライソフト")
    assert (lead["score"], lead["stage"], lead["temperature"]) == (115, "consideration", "hot")
    assert lead["handoff_criterion"] == PRICING and lead["handed_off_at"] == iso(at(185))
    assert lead["salesforce_id"] == "00Q5g0000501" and lead["properties"]["jobtitle"] == "情報システム部長"
    assert lead["summary"].startswith("handoff by " + PRICING)

    kinds = [(e["kind"], e["at"]) for e in found["entries"]]
    assert kinds == [("event", iso(at(0))), ("activity", iso(at(60))), ("activity", iso(at(90))),
                     ("decision", iso(at(120))), ("activity", iso(at(180))), ("decision", iso(at(185))),
                     ("write", iso(at(185))), ("write", iso(at(185))), ("event", iso(at(187)))]
    assert all(isinstance(e["text"], str) and e["text"] and "\n" not in e["text"] for e in found["entries"])


def test_events_carry_fields_and_echoes_are_labelled_ignored(store):
    entries = timeline(store, handed_off_lead(store))["entries"]
    change, echo = [e for e in entries if e["kind"] == "event"]
    assert change["event"]["change_type"] == "property" and not change["event"]["echo"]
    assert change["event"]["fields"] == {"jobtitle": "情報システム部長"}
    assert change["text"] == "HubSpot property: jobtitle = 情報システム部長"
    assert echo["event"]["echo"] and echo["event"]["ignored"] and echo["event"]["fields"] == {"bridge_score": "115"}
    assert "ignored" in echo["text"] and "echo of our own write" in echo["text"]


def test_activities_keep_type_and_properties(store):
    entries = [e for e in timeline(store, handed_off_lead(store))["entries"] if e["kind"] == "activity"]
    assert [e["activity"]["type"] for e in entries] == ["whitepaper_download"] * 2 + ["pricing_page_visit"]
    assert entries[0]["activity"]["properties"] == {"title": "MA導入ガイド"}
    assert entries[0]["text"] == "activity whitepaper_download (title = MA導入ガイド)"


def test_decisions_explain_fired_rules_and_the_criterion_or_what_was_missing(store):
    first, second = [e["decision"] for e in timeline(store, handed_off_lead(store))["entries"]
                     if e["kind"] == "decision"]
    assert (first["score"], first["qualifies"], first["handed_off"]) == (85, False, False)
    why_not = first["explanation"]
    assert why_not["criterion"] is None and why_not["why"].startswith("no criterion matched")
    pricing = next(c for c in why_not["criteria"] if c["name"] == PRICING)
    assert not pricing["matched"] and pricing["missing"] == ["score 85 < 100", "pricing_page_visit 0 < 1"]
    assert pricing["checks"][0] == {"text": "score 85 < 100", "passed": False, "subject": "score", "value": "85",
                                    "required": "100"}

    assert (second["score"], second["qualifies"], second["handed_off"], second["criterion"]) == \
        (115, True, True, PRICING)
    explanation = second["explanation"]
    assert (explanation["attribute_score"], explanation["behaviour_score"]) == (45, 70)
    fired = {f["rule"]: (f["points"], f["because"]) for f in explanation["fired"]}
    assert fired["部長以上 (director or above)"] == (20, 'jobtitle "情報システム部長" contains 部長')
    assert fired["whitepaper_download"] == (40, "2 × whitepaper_download")
    assert fired["pricing_page_visit"][0] == 30
    assert explanation["why"] == f"criterion {PRICING} matched: score 115 ≥ 100, pricing_page_visit 1 ≥ 1"


def test_writes_show_status_result_reason_and_fields(store):
    writes = [e for e in timeline(store, handed_off_lead(store))["entries"] if e["kind"] == "write"]
    by_target = {e["write"]["target"]: e for e in writes}
    done, dead = by_target[SF_ROUTE], by_target[KINTONE_ROUTE]
    assert done["write"]["status"] == "done" and done["write"]["result"]["id"] == "00Q5g0000501"
    assert done["text"] == f"upsert → {SF_ROUTE}: done (created salesforce Lead 00Q5g0000501)"
    assert dead["write"]["status"] == "dead" and dead["write"]["attempts"] == 1
    assert dead["write"]["last_error"] == KINTONE_ERROR and dead["write"]["fields"] == ["company"]
    assert dead["write"]["finished_at"] == iso(at(186))
    assert KINTONE_ERROR in dead["text"] and "[fields: company]" in dead["text"]


def test_events_of_the_salesforce_record_we_created_belong_to_the_lead(store):
    lead_id = handed_off_lead(store)
    ids = _inbox_ids(store, [InboxEvent("salesforce", "Lead", "sf-1", "Lead:00Q5g0000501", at(200), "{}")])
    with store.unit_of_work() as work:
        found = work.leads.find_by_record("salesforce", "Lead", "00Q5g0000501")  # as the inbox stage finds it
        work.changes.record(ids["sf-1"], "salesforce", "Lead:00Q5g0000501", "updated", iso(at(200)),
                            json.dumps({"Status": "Working - Contacted"}), at(201), found["id"])
    last = timeline(store, lead_id)["entries"][-1]
    assert last["kind"] == "event" and last["event"]["source"] == "salesforce"
    assert last["text"] == "Salesforce updated: Status = Working - Contacted"


def test_other_leads_stay_out_and_unknown_leads_are_none(store):
    first = handed_off_lead(store)
    handed_off_lead(store, hubspot_id="502", email="taro@example.co.jp")
    assert {e["event"]["record_key"] for e in timeline(store, first)["entries"] if e["kind"] == "event"} == \
        {"contact:501"}
    assert timeline(store, 9999) is None


def test_a_lead_known_only_by_email_has_an_empty_but_valid_timeline(store):
    with store.unit_of_work() as work:
        lead_id = work.leads.touch(at(0), email="Only.Email@Example.co.jp")
    found = timeline(store, lead_id)
    assert found["entries"] == [] and found["lead"]["email"] == "only.email@example.co.jp"
    assert found["lead"]["name"] is None and found["lead"]["properties"] == {}


def test_explain_copes_with_excluded_and_empty_explanations():
    decision = evaluate({"email": "someone@gmail.com", "jobtitle": "部長"}, [], RULES, at(0))
    why = explain(json.dumps(decision.as_dict()))["why"]
    assert why == "excluded: フリーメール (free mail): email domain gmail.com"
    assert explain(None)["why"] == "no handoff criteria are configured" and explain("not json")["fired"] == []
