"""POST /api/activities: bearer auth, validation naming the item, durable 202, dedupe, the activity ledger."""

import json

import pytest

from tests.conftest import BASE_ENV
from tests.helpers import make_worker

TOKEN = BASE_ENV["BRIDGE_ACTIVITIES_TOKEN"]


def post(client, activities, token=TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = activities if isinstance(activities, bytes) else json.dumps(activities, ensure_ascii=False)
    return client.post("/api/activities", data=body, headers={**headers, "Content-Type": "application/json"})


def activity(n=1, **extra):
    return {"id": f"web-{n}", "email": "Hanako.Sato@Example.co.jp", "type": "pricing_page_visit",
            "occurred_at": "2026-11-21T10:00:00+09:00", **extra}


def test_accepted_after_commit_with_202(client, store):
    response = post(client, [activity(1), activity(2, type="whitepaper_download")])
    assert response.status_code == 202 and response.json == {"accepted": 2, "new": 2}
    rows = store.conn.db.execute("SELECT event_type, record_key, occurred_at FROM inbox ORDER BY id").fetchall()
    assert rows[0] == ("pricing_page_visit", "email:hanako.sato@example.co.jp", "2026-11-21T01:00:00.000Z")


def test_duplicate_ids_are_ignored(client, store):
    post(client, [activity(1)])
    assert post(client, [activity(1)]).json == {"accepted": 1, "new": 0}


@pytest.mark.parametrize("token, status", [(None, 401), ("wrong-token-0123456789", 401)])
def test_bearer_token_required(client, token, status):
    assert post(client, [activity()], token=token).status_code == status


def test_unconfigured_token_is_503(make_settings):
    from bridge.app import create_app

    client = create_app(make_settings(BRIDGE_ACTIVITIES_TOKEN=None)).test_client()
    response = post(client, [activity()], token="anything-at-all-here")
    assert response.status_code == 503 and "BRIDGE_ACTIVITIES_TOKEN" in response.json["error"]


@pytest.mark.parametrize(
    "items, field",
    [
        ([activity(1), activity(2, occurred_at="2026-11-21T10:00:00")], "[1].occurred_at"),
        ([activity(1, type="Pricing Page")], "[0].type"),
        ([{k: v for k, v in activity().items() if k != "email"}], "[0].email"),
        ([activity(1, email="not-an-email")], "[0].email"),
        ([activity(1, colour="blue")], "[0].colour"),
        ([activity(n) for n in range(1001)], "body"),
        ([], "body"),
        ([activity(1, hubspot_id="١٢٣")], "[0].hubspot_id"),  # Arabic-Indic digits: "١٢٣".isdigit() is true
        ([activity(1, hubspot_id="１２３")], "[0].hubspot_id"),  # full-width
        ([activity(1, hubspot_id="123\n")], "[0].hubspot_id"),
        ([activity(1, hubspot_id=123)], "[0].hubspot_id"),  # a JSON number: ids are sent as text
    ],
)
def test_bad_items_are_400_naming_the_item_and_kept(client, store, items, field):
    response = post(client, items)
    assert response.status_code == 400 and response.json["error"].startswith(field)
    assert store.ingest.rejected()[0]["source"] == "activities"
    assert store.inbox.counts()["pending"] == 0


def test_worker_records_the_activity_once_and_marks_the_lead(client, store):
    post(client, [activity(1), activity(2, hubspot_id="501")])
    make_worker(client.application).lanes["core"][0].run_once()  # the inbox stage
    leads = store.leads.dirty(10)
    assert len(leads) == 1 and leads[0]["email"] == "hanako.sato@example.co.jp" and leads[0]["hubspot_id"] == "501"
    assert [a["id"] for a in store.leads.activities(leads[0]["id"])] == ["web-1", "web-2"]
