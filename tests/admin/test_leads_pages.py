"""The lead pages (/admin/leads, /admin/leads/<id>) and the dead letters (/admin/outbox): login, content in
English and Japanese, replay with CSRF, audit log."""

from __future__ import annotations

import html

import pytest

from tests.admin.conftest import csrf_from
from tests.handoff.test_timeline import KINTONE_ERROR, KINTONE_ROUTE, PRICING, at, handed_off_lead

JA = {"Accept-Language": "ja,en;q=0.5"}


@pytest.fixture
def store(admin_app):
    return admin_app.extensions["bridge"].store


@pytest.fixture
def lead_id(store):
    return handed_off_lead(store)


def _dead(store):
    return store.outbox.items(status="dead")


def text_of(response) -> str:
    return html.unescape(response.text)


# -- access ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/admin/leads", "/admin/leads/1", "/admin/outbox"])
def test_pages_send_strangers_to_the_login_form(anonymous, lead_id, url):
    response = anonymous.get(url)
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")
    assert "佐藤" not in response.text


def test_replay_refuses_strangers_and_changes_nothing(anonymous, store, lead_id):
    item = _dead(store)[0]["id"]
    response = anonymous.post("/admin/outbox/replay", data={"id": item})
    assert response.status_code == 303 and response.headers["Location"].startswith("/admin/login")
    assert [i["id"] for i in _dead(store)] == [item]


def test_replay_without_the_csrf_token_is_refused(admin, store, lead_id):
    item = _dead(store)[0]["id"]
    for data in ({"id": item}, {"id": item, "csrf_token": "forged-token"}, {"all": "1"}):
        response = admin.post("/admin/outbox/replay", data=data)
        assert response.status_code == 400 and "security token" in response.text
    assert [i["id"] for i in _dead(store)] == [item]


# -- leads list -------------------------------------------------------------------------------------
def test_the_list_shows_who_where_and_whether_handed_off(admin, store, lead_id):
    with store.unit_of_work() as work:
        work.leads.touch(at(300), email="waiting@example.co.jp")
    page = text_of(admin.get("/admin/leads"))
    for shown in ("hanako.sato@example.co.jp", "佐藤 花子", "株式会社ミライソフト", "115", "consideration", "hot",
                  "waiting@example.co.jp", "2 lead(s)"):
        assert shown in page, shown
    assert f'href="/admin/leads/{lead_id}"' in page
    assert page.index("waiting@example.co.jp") < page.index("hanako.sato@example.co.jp")  # newest first
    assert "waiting@example.co.jp" not in text_of(admin.get("/admin/leads?handed_off=yes"))
    assert "hanako.sato@example.co.jp" not in text_of(admin.get("/admin/leads?handed_off=no"))


def test_the_list_finds_a_lead_by_email_or_hubspot_id(admin, lead_id):
    handed_off_lead(admin.application.extensions["bridge"].store, hubspot_id="502", email="jiro@example.co.jp")
    by_email = text_of(admin.get("/admin/leads?q=Hanako.Sato@Example.co.jp"))
    assert "hanako.sato@example.co.jp" in by_email and "jiro@example.co.jp" not in by_email
    by_id = text_of(admin.get("/admin/leads?q=502"))
    assert "jiro@example.co.jp" in by_id and "hanako.sato@example.co.jp" not in by_id
    assert "Enter a whole email address" in text_of(admin.get("/admin/leads?q=sato"))


def test_the_list_in_japanese(admin, lead_id):
    page = text_of(admin.get("/admin/leads", headers=JA))
    assert "リード" in page and "検討" in page and "ホット" in page and "タイムライン" in page


# -- one lead's timeline ---------------------------------------------------------------------------
def test_the_timeline_explains_each_decision(admin, lead_id):
    page = text_of(admin.get(f"/admin/leads/{lead_id}"))
    assert "Lead 佐藤 花子" in page and "00Q5g0000501" in page
    assert f"Handed off to sales by “{PRICING}”" in page
    assert "部長以上 (director or above) <strong>+20</strong>" in page
    assert 'jobtitle "情報システム部長" contains 部長' in page
    assert "Score 115 = 45 attributes + 70 behaviour" in page
    assert "✓ score 115 (needs 100 or more)" in page
    # the earlier evaluation says what was missing
    assert "Not handed off: no handoff condition is met yet" in page
    assert "✗ score 85 (needs 100 or more)" in page
    assert "✗ pricing page visit (pricing_page_visit): 0 time(s) (needs 1 or more)" in page


def test_the_timeline_shows_events_activities_and_writes(admin, lead_id):
    page = text_of(admin.get(f"/admin/leads/{lead_id}"))
    assert "HubSpot: property changed" in page and "<code>jobtitle</code> = \"情報システム部長\"" in page
    assert "echo of Bridge's own write-back" in page and "<code>bridge_score</code>" in page
    assert "whitepaper download <code>whitepaper_download</code>" in page and "MA導入ガイド" in page
    assert "created: salesforce Lead <code>00Q5g0000501</code>" in page
    assert f"Create or update in {KINTONE_ROUTE}: <strong>failed (needs action)</strong>" in page
    assert KINTONE_ERROR in page and "<code>company</code>" in page
    assert page.index("property changed") < page.index("MA導入ガイド") < page.index("echo of Bridge")


def test_the_timeline_in_japanese_for_marketing_ops(admin, lead_id):
    page = text_of(admin.get(f"/admin/leads/{lead_id}", headers=JA))
    assert f"営業へ引き渡し (条件「{PRICING}」を満たしたため)" in page
    assert "スコア 115 = 属性 45 + 行動 70" in page and "加点されたルール" in page
    assert "✗ 料金ページ閲覧 (pricing_page_visit): 0 回 (必要: 1 回以上)" in page
    assert "ステージ: 検討" in page and "Bridge 自身の書き戻し" in page and "失敗 (対応が必要)" in page
    assert "JST" in page


def test_an_unknown_lead_is_a_404_page(admin):
    response = admin.get("/admin/leads/9999")
    assert response.status_code == 404 and "There is no lead with id 9999" in response.text


# -- dead letters ------------------------------------------------------------------------------------
def test_the_outbox_lists_dead_letters_with_reason_fields_and_buttons(admin, store, lead_id):
    page = text_of(admin.get("/admin/outbox"))
    item = _dead(store)[0]
    assert "佐藤 花子" in page and "hanako.sato@example.co.jp" in page and f'href="/admin/leads/{lead_id}"' in page
    assert f"Create or update in {KINTONE_ROUTE}" in page and KINTONE_ERROR in page and "<code>company</code>" in page
    assert f'name="id" value="{item["id"]}"' in page and "Replay all 1" in page
    assert "1 done, 1 failed" in page
    assert "送信失敗 (デッドレター)" in text_of(admin.get("/admin/outbox", headers=JA))


def test_replay_one_moves_it_to_pending_and_is_audited(admin, store, lead_id, audit):
    item = _dead(store)[0]["id"]
    page = admin.get("/admin/outbox").text
    response = admin.post("/admin/outbox/replay", data={"csrf_token": csrf_from(page), "id": item})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/outbox"
    assert _dead(store) == [] and store.outbox.items(status="pending")[0]["id"] == item
    assert audit()[-1] == ("admin", "outbox_replay", f"outbox {item}")
    after = admin.get("/admin/outbox").text
    assert "1 write(s) queued again" in after and "No failed writes" in after
    assert "replayed failed writes" in admin.get("/admin/audit").text


def test_replay_from_the_timeline_returns_to_it(admin, store, lead_id):
    page = admin.get(f"/admin/leads/{lead_id}").text
    item = _dead(store)[0]["id"]
    response = admin.post("/admin/outbox/replay", data={"csrf_token": csrf_from(page), "id": item,
                                                        "next": f"/admin/leads/{lead_id}"})
    assert response.headers["Location"] == f"/admin/leads/{lead_id}"
    assert "waiting to be sent" in admin.get(f"/admin/leads/{lead_id}").text
    again = admin.post("/admin/outbox/replay", data={"csrf_token": csrf_from(page), "id": item,
                                                     "next": "https://evil.example/"})
    assert again.headers["Location"] == "/admin/mappings"  # never off-site
    assert "Nothing was replayed" in admin.get("/admin/mappings").text


def test_replay_all(admin, store, lead_id, audit):
    handed_off_lead(store, hubspot_id="502", email="taro@example.co.jp")
    csrf = csrf_from(admin.get("/admin/outbox").text)
    admin.post("/admin/outbox/replay", data={"csrf_token": csrf, "all": "1"})
    assert _dead(store) == [] and store.outbox.counts()["pending"] == 2
    assert audit()[-1] == ("admin", "outbox_replay", "outbox (all dead letters)")


def test_replay_with_a_bad_id_is_a_400_page(admin, store, lead_id):
    csrf = csrf_from(admin.get("/admin/outbox").text)
    response = admin.post("/admin/outbox/replay", data={"csrf_token": csrf, "id": "x"})
    assert response.status_code == 400 and len(_dead(store)) == 1


# -- the inbox's dead letters: the same page code and replay as the outbox's ---------------------------------
def _dead_event(store) -> int:
    from datetime import UTC, datetime

    from connectors.base import InboxEvent

    store.ingest.add_events([InboxEvent("marketo", "lead.updated", "m-1", "lead:7", at(0), "{}")], at(0))
    (event,) = store.inbox.claim("test-worker", datetime(2026, 11, 21, tzinfo=UTC), 60, 10)
    with store.unit_of_work() as work:
        work.inbox.bury(event.id, "test-worker", at(1), "LookupError: no connector is installed for 'marketo' events")
    return event.id


def test_the_inbox_lists_failed_events_and_replays_them_audited(admin, store, audit):
    event = _dead_event(store)
    page = text_of(admin.get("/admin/inbox"))
    assert "marketo" in page and "lead:7" in page and "no connector is installed" in page and "Replay all 1" in page
    assert "受信処理の失敗 (デッドレター)" in text_of(admin.get("/admin/inbox", headers=JA))
    response = admin.post("/admin/inbox/replay", data={"csrf_token": csrf_from(admin.get("/admin/inbox").text),
                                                        "id": event})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/inbox"
    assert store.inbox.counts()["dead"] == 0 and store.inbox.counts()["pending"] == 1
    assert audit()[-1] == ("admin", "inbox_replay", f"inbox {event}")
    assert "replayed failed events" in admin.get("/admin/audit").text
