"""A lead's timeline shows its SLA clock: each step of the clock's log with business-time figures (GET
/api/leads/<id> and the admin page, in Japanese and English), and the clock of each handoff cycle as it stands."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.admin.conftest import ADMIN_ENV, login
from tests.conftest import BASE_ENV
from tests.helpers import make_worker
from tests.sla.scenario import four_leads, hand_off, run_until, sales_event

LEADS = {"Authorization": f"Bearer {BASE_ENV['BRIDGE_LEADS_TOKEN']}"}


@pytest.fixture
def app(make_settings, clock):
    """The app with the admin pages on, so the same lead is read through the API and on its page."""
    from bridge.app import create_app

    return create_app(make_settings(**ADMIN_ENV), clock=clock)


def sla_entries(client, lead: int) -> list[dict]:
    found = client.get(f"/api/leads/{lead}", headers=LEADS).json
    return [entry for entry in found["entries"] if entry["kind"] == "sla"]


def test_a_breached_clock_tells_its_story(app, client, clock):
    leads = four_leads(app, clock)
    entries = sla_entries(client, leads["B"])
    assert [e["sla"]["event"] for e in entries] == ["started", "reminder", "breach"]
    started, reminder, breach = entries
    assert started["at"] == "2026-11-21T09:00:00.000Z"  # at the handoff
    assert started["text"] == ("SLA clock started (hot): first touch within 3 営業時間 / 3 business hours, "
                               "by 2026-11-24T03:00:00.000Z")
    assert reminder["text"] == "SLA reminder to owner (hot): 1:00 business hours left before 2026-11-24T03:00:00.000Z"
    assert breach["text"] == ("SLA breached (hot): no first touch by 2026-11-24T03:00:00.000Z; escalated to owner, "
                              "manager, channel; a to-do for the owner via hubspot-contact-to-salesforce-lead")
    assert breach["sla"]["notify"] and breach["sla"]["notified_at"] is None  # the notice waits in the outbox
    found = client.get(f"/api/leads/{leads['B']}", headers=LEADS).json
    (clock_row,) = found["clocks"]
    assert clock_row == {"cycle": 1, "policy": "hot", "state": "breached", "started_at": "2026-11-21T09:00:00.000Z",
                         "deadline": "2026-11-24T03:00:00.000Z", "touched_at": None, "follow_ups": 0,
                         "ended_at": None, "ended_by": None, "open": True, "next_check_at": None}
    kinds = [entry["kind"] for entry in found["entries"]]
    assert kinds.index("decision") < kinds.index("sla")  # the handoff, then the clock it started


def test_a_clock_met_in_time_shows_the_business_hours_to_first_touch(app, client, clock):
    leads = four_leads(app, clock)
    entries = sla_entries(client, leads["C"])
    assert [e["text"] for e in entries[1:]] == ["first touch after 2:00 business hours, in time",
                                               "SLA clock ended by connected: first touch in time"]
    assert entries[1]["sla"]["details"] == {"after": "2:00", "in_time": True}
    (clock_row,) = client.get(f"/api/leads/{leads['C']}", headers=LEADS).json["clocks"]
    assert (clock_row["state"], clock_row["open"], clock_row["ended_by"]) == ("met", False, "connected")


def test_a_recycled_lead_shows_its_attempts(app, client, store, clock):
    timers = make_worker(app, clock).lanes["timers"][0]
    lead = hand_off(store, clock, "701")
    timers.run_once()
    clock.advance(days=3)  # Tuesday 18:00 JST
    for _ in range(3):  # three unanswered calls, a business day apart
        sales_event(store, clock, lead, "attempted")
        timers.run_once()
        clock.advance(days=1)
    run_until(timers, clock, clock() + timedelta(hours=2))
    texts = [e["text"] for e in sla_entries(client, lead)]
    assert texts[1] == "first touch after 8:00 business hours, in time"  # all of Tuesday's business day
    assert texts[2] == "recycled to marketing after 3 unanswered attempts (standard) (reason unreachable)"
    (clock_row,) = client.get(f"/api/leads/{lead}", headers=LEADS).json["clocks"]
    assert (clock_row["follow_ups"], clock_row["ended_by"], clock_row["open"]) == (3, "recycle", False)


def test_a_policy_change_moves_the_deadline_on_the_timeline(app, client, store, clock):
    timers = make_worker(app, clock).lanes["timers"][0]
    lead = hand_off(store, clock, "801")
    timers.run_once()
    path = app.extensions["bridge"].settings.mappings_dir / "sla.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("first_touch: 3 business days",
                                                             "first_touch: 4 business days"), encoding="utf-8")
    timers.mappings.refresh()  # as the worker's loop does
    assert timers.run_once() == 1  # the policies changed: the open clock is assessed again
    moved = sla_entries(client, lead)[-1]
    assert moved["sla"]["event"] == "deadline_moved"
    assert moved["text"] == ("SLA deadline moved from 2026-11-26T09:00:00.000Z to 2026-11-27T09:00:00.000Z "
                             "(standard): the SLA policies or calendar changed")


def test_the_lead_page_shows_the_clock_in_english_and_japanese(app, clock):
    leads = four_leads(app, clock)
    admin = app.test_client()
    login(admin)
    english = admin.get(f"/admin/leads/{leads['B']}", headers={"Accept-Language": "en"}).text
    assert "<h2>SLA clock</h2>" in english
    assert "SLA clock started" in english
    assert "Policy hot: first touch within 3 business hours, by 2026-11-24 (Tue) 12:00 JST" in english
    assert "1:00 business hours left before 2026-11-24 (Tue) 12:00 JST; to owner" in english
    assert "No first touch by 2026-11-24 (Tue) 12:00 JST; told owner, manager, Slack channel" in english
    assert "notice waiting to be sent" in english
    japanese = admin.get(f"/admin/leads/{leads['C']}", headers={"Accept-Language": "ja"}).text
    assert "<h2>SLA タイマー</h2>" in japanese
    assert "ポリシー standard: 3 営業日 以内、2026-11-26 (木) 18:00 JST までに初回連絡" in japanese
    assert "引き渡しから 2:00 営業時間後 — 期限内" in japanese
    assert "SLA タイマー終了 (期限内)" in japanese and "終了のきっかけ: 通話" in japanese
