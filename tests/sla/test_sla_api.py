"""GET /api/sla: the SLA page as JSON, behind the leads API's token; clocks made through the store and the timers
stage (tests/sla/scenario.py)."""

from __future__ import annotations

import pytest

from bridge.app import create_app
from tests.conftest import BASE_ENV
from tests.helpers import make_worker
from tests.sla.scenario import NAMED, UNNAMED, four_leads, name_owners, sales_event

LEADS = {"Authorization": f"Bearer {BASE_ENV['BRIDGE_LEADS_TOKEN']}"}


@pytest.fixture
def leads(app, clock):
    name_owners(app.extensions["bridge"].settings.mappings_dir)
    return four_leads(app, clock)


def test_the_report_lists_by_owner_with_business_time_figures(client, leads):
    report = client.get("/api/sla", headers=LEADS).json
    assert report["enabled"] and report["zone"] == "Asia/Tokyo"
    assert report["now"] == "2026-11-26T01:00:00.000Z"
    assert report["due_soon_until"] == "2026-11-27T01:00:00.000Z"  # Friday 10:00 JST: one business day on
    assert report["counts"] == {"open": 3, "due_soon": 2, "breached": 1, "recently_met": 1}

    due = report["due_soon"]
    assert [(c["lead_id"], c["owner"]["id"], c["owner"]["name"]) for c in due] == [
        (leads["A"], NAMED, "山田 太郎"), (leads["D"], None, None)]  # grouped by owner, no owner last
    assert [(c["deadline"], c["left"], c["policy"]) for c in due] == [
        ("2026-11-26T09:00:00.000Z", "7:00", "standard")] * 2  # Thursday 18:00 JST: 10-12 and 13-18 left
    assert due[0]["lead"] == {"id": leads["A"], "name": "田中 一郎", "email": "lead601@example.co.jp",
                              "company": "株式会社テスト"}

    (breached,) = report["breached"]
    assert (breached["lead_id"], breached["owner"], breached["policy"], breached["state"]) == (
        leads["B"], {"id": UNNAMED, "name": None}, "hot", "breached")
    assert (breached["deadline"], breached["overdue"]) == ("2026-11-24T03:00:00.000Z", "14:00")

    (met,) = report["recently_met"]
    assert (met["lead_id"], met["ended_by"], met["first_touch_after"], met["state"]) == (
        leads["C"], "connected", "2:00", "met")

    assert report["owners"] == [
        {"id": UNNAMED, "name": None, "open": 1, "due_soon": 0, "breached": 1, "recently_met": 0},
        {"id": NAMED, "name": "山田 太郎", "open": 1, "due_soon": 1, "breached": 0, "recently_met": 1},
        {"id": None, "name": None, "open": 1, "due_soon": 1, "breached": 0, "recently_met": 0}]
    assert report["compliance"] == {"days": 30, "clocks": 2, "in_time": 1, "rate": 0.5, "first_touches": 1,
                                    "median_first_touch_minutes": 120.0, "median_first_touch": "2:00"}


def test_a_late_touch_counts_against_compliance_and_ends_the_breach(client, store, clock, leads):
    sales_event(store, clock, leads["B"], "connected")  # Thursday 10:00: the hot lead is reached, late
    make_worker(client.application, clock).lanes["timers"][0].run_once()
    report = client.get("/api/sla", headers=LEADS).json
    assert report["breached"] == [] and report["counts"]["open"] == 2
    assert [c["lead_id"] for c in report["recently_met"]] == [leads["C"]]  # touched late: not "met"
    compliance = report["compliance"]
    assert (compliance["clocks"], compliance["in_time"], compliance["first_touches"]) == (2, 1, 2)
    # 2:00 (lead C) and 17:00 (lead B: Tuesday 9:00 to Thursday 10:00) business hours: the median is between
    assert compliance["median_first_touch"] == "9:30"


def test_the_limit_cuts_the_lists_not_the_counts(client, leads):
    report = client.get("/api/sla?limit=1", headers=LEADS).json
    assert len(report["due_soon"]) == 1 and report["counts"]["due_soon"] == 2


@pytest.mark.parametrize("query", ["?limit=0", "?limit=1001", "?limit=ten", "?owner=x"])
def test_a_bad_query_is_a_400_that_says_why(client, query):
    response = client.get(f"/api/sla{query}", headers=LEADS)
    assert response.status_code == 400
    assert "limit" in response.json["error"]


@pytest.mark.parametrize("token", [None, "BRIDGE_ADMIN_TOKEN", "BRIDGE_ACTIVITIES_TOKEN"])
def test_only_the_leads_token_opens_it(client, token):
    headers = {"Authorization": f"Bearer {BASE_ENV[token]}"} if token else {}
    response = client.get("/api/sla", headers=headers)
    assert response.status_code == 401
    assert "BRIDGE_LEADS_TOKEN" in response.json["error"]


def test_off_without_the_leads_token(make_settings, clock):
    app = create_app(make_settings(BRIDGE_LEADS_TOKEN=None), clock=clock)
    response = app.test_client().get("/api/sla", headers=LEADS)
    assert response.status_code == 503 and "BRIDGE_LEADS_TOKEN" in response.json["error"]


def test_without_sla_yaml_the_report_says_the_timers_are_off(app, client):
    (app.extensions["bridge"].settings.mappings_dir / "sla.yaml").unlink()
    report = client.get("/api/sla", headers=LEADS).json
    assert report["enabled"] is False and report["counts"]["open"] == 0
    assert report["compliance"]["rate"] is None and report["compliance"]["median_first_touch"] is None
