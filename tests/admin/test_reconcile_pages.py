"""The reconciliation pages (/admin/reconcile, a run's report, its CSV and JSON) and the line on the lead page:
login, English and Japanese, paging, downloads."""

from __future__ import annotations

import csv
import html
import io
import json
from datetime import timedelta

import pytest

from bridge.admin import reconcile_pages
from bridge.reconcile.model import Drift
from tests.conftest import T0
from tests.handoff.test_timeline import handed_off_lead

JA = {"Accept-Language": "ja,en;q=0.5"}


@pytest.fixture
def store(admin_app):
    return admin_app.extensions["bridge"].store


def text_of(response) -> str:
    return html.unescape(response.text)


def differs(lead_id: int | None, n: int = 0, name: str = "佐藤 花子") -> dict:
    return Drift("differs", "salesforce", "Lead", "upsert", "source_wins", lead_id, name, f"00Q{n:03d}",
                 f"Field{n}__c", f"HubSpot {n}", f"Salesforce {n}", "salesforce", "2026-12-01T01:02:00Z", "005xx",
                 {"route": "hubspot-contact-to-salesforce-lead", "rule": "to_target"}).to_dict()


def duplicate(lead_id: int | None) -> dict:
    return Drift("duplicate", "kintone", "7", "person", "same_key", lead_id, "佐藤 花子", "12, 13",
                 details={"route": "hubspot-contact-to-kintone", "key_field": "hubspot_id", "key": "501",
                          "records": ["12", "13"]}).to_dict()


def make_run(store, items: list[dict], day: int, status: str = "planned", mode: str = "full") -> int:
    """A finished run, as the job leaves it: started, its items saved, finished with its counts."""
    now = T0 + timedelta(days=day)
    run_id = store.reconciliations.start(mode, status == "applied", False, None, "schedule", now)
    store.reconciliations.save_items(run_id, items)
    found: dict[str, int] = {}
    for item in items:
        found[item["kind"]] = found.get(item["kind"], 0) + 1
    needs = sum(1 for item in items if item["action"] == "person")
    store.reconciliations.finish(run_id, status, now + timedelta(minutes=3),
                                 compared={"hubspot": 1200, "salesforce": 1180, "kintone": 640}, found=found,
                                 repaired=len(items) - needs if status == "applied" else 0, needs_person=needs,
                                 calls={"hubspot": 14, "salesforce": 3, "kintone": 2}, share=0.004)
    return run_id


@pytest.fixture
def lead_id(store) -> int:
    return handed_off_lead(store)


@pytest.fixture
def runs(store, lead_id) -> tuple[int, int]:
    """Two full runs: the first found 3 differences, the second 2 differences and a duplicate."""
    first = make_run(store, [differs(lead_id, n) for n in range(3)], day=0)
    second = make_run(store, [differs(lead_id, 1), differs(lead_id, 2), duplicate(lead_id)], day=1)
    return first, second


# -- access ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/admin/reconcile", "/admin/reconcile/1", "/admin/reconcile/1.csv",
                                 "/admin/reconcile/1.json"])
def test_the_pages_and_downloads_send_strangers_to_the_login_form(anonymous, runs, url):
    response = anonymous.get(url)
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")
    assert "佐藤" not in response.text


@pytest.mark.parametrize("url", ["/admin/reconcile/99", "/admin/reconcile/99.csv", "/admin/reconcile/99.json"])
def test_an_unknown_run_is_404_in_words(admin, runs, url):
    response = admin.get(url)
    assert response.status_code == 404 and "There is no reconciliation run #99" in text_of(response)
    assert "突き合わせの実行 #99 はありません" in text_of(admin.get(url, headers=JA))


# -- run history --------------------------------------------------------------------------------------------------
def test_the_history_lists_runs_newest_first_with_what_each_found(admin, store, runs):
    first, second = runs
    failed = store.reconciliations.start("incremental", False, False, None, "cli", T0 + timedelta(days=2))
    store.reconciliations.finish(failed, "failed", T0 + timedelta(days=2, minutes=1), error="HubSpot: HTTP 401")
    page = text_of(admin.get("/admin/reconcile"))
    assert '<a href="/admin/reconcile">Reconciliation</a>' in page  # the nav link
    assert page.index(f"#{failed}") < page.index(f"#{second}") < page.index(f"#{first}")
    for shown in ("plan only (nothing changed)", "failed", "changes since the last run", "command line",
                  "Fields that differ 2 · Duplicates 1", "HubSpot 1,200", "kintone 640"):
        assert shown in page, shown
    assert f'href="/admin/reconcile/{second}"' in page


def test_the_history_in_japanese(admin, runs):
    page = text_of(admin.get("/admin/reconcile", headers=JA))
    for shown in ("突き合わせ", "計画のみ (変更なし)", "全件", "定期実行", "値が食い違っている項目 2", "要判断",
                  "レポート"):
        assert shown in page, shown
    assert "plan only" not in page


def test_the_history_is_paged(admin, store, lead_id, monkeypatch):
    monkeypatch.setattr(reconcile_pages, "RUNS_PER_PAGE", 2)
    ids = [make_run(store, [], day=n) for n in range(5)]
    first = text_of(admin.get("/admin/reconcile"))
    assert f"#{ids[4]}" in first and f"#{ids[3]}" in first and f"#{ids[2]}" not in first
    assert "older runs →" in first and "← newer runs" not in first
    last = text_of(admin.get("/admin/reconcile?page=3"))
    assert f"#{ids[0]}" in last and f"#{ids[1]}" not in last
    assert "← newer runs" in last and "older runs →" not in last
    assert "No older runs." in text_of(admin.get("/admin/reconcile?page=9"))
    assert f"#{ids[4]}" in text_of(admin.get("/admin/reconcile?page=x"))


def test_no_runs_yet_says_how_one_starts(admin):
    assert "BRIDGE_RECONCILE_SCHEDULE" in text_of(admin.get("/admin/reconcile"))


# -- a run's report -----------------------------------------------------------------------------------------------
def test_the_report_gives_the_summary_first_then_the_items_by_kind(admin, runs, lead_id):
    first, second = runs
    page = text_of(admin.get(f"/admin/reconcile/{second}"))
    summary = page.index("Summary")
    assert summary < page.index("Drift by kind") < page.index('id="kind-differs"') < page.index('id="kind-duplicate"')
    assert f"Drift found: 3 (3 in the previous comparable run #{first}: ±0)" in page
    assert "--doit would repair 2. A person must decide: 1." in page
    assert f"counted against run #{first}" in page
    assert "HubSpot</td>" in page and "1,200" in page and ">14<" in page  # records and API calls per system
    # the trend per kind: differs 3 → 2, duplicates 0 → 1
    assert "<td>2</td>\n    <td>3</td>\n    <td class=\"ok\">-1</td>" in page
    assert "<td>1</td>\n    <td>0</td>\n    <td class=\"warn\">+1</td>" in page
    # each item: the lead linked, the field, both values, what it means and what --doit does
    assert f'<a href="/admin/leads/{lead_id}">佐藤 花子</a>' in page
    assert "<code>Field1__c</code>" in page and "Salesforce 1" in page and "HubSpot 1" in page
    assert "Write to the sales system again" in page
    assert "Salesforce holds 'Salesforce 1' in Field1__c, HubSpot says 'HubSpot 1'" in page
    assert "--doit writes HubSpot's value to Salesforce again" in page
    assert "A person must decide, because only someone who knows these records" in page
    assert f'href="/admin/reconcile/{second}.csv"' in page and f'href="/admin/reconcile/{second}.json"' in page


def test_the_report_in_japanese(admin, runs):
    page = text_of(admin.get(f"/admin/reconcile/{runs[1]}", headers=JA))
    for shown in ("突き合わせ #", "概要", "種類別の差分", "見つかった差分: 3 件", "値が食い違っている項目 (2)",
                  "重複レコード (1)", "営業システムへ再送", "Salesforce の Field1__c は「Salesforce 1」",
                  "--doit を付けて実行すると", "人の判断が必要です。", "CSV をダウンロード (Excel 用)"):
        assert shown in page, shown
    assert "Summary" not in page and "A person must decide" not in page


def test_the_first_run_has_no_trend_to_show(admin, runs):
    page = text_of(admin.get(f"/admin/reconcile/{runs[0]}"))
    assert "No earlier run of the same mode to compare with yet." in page and "Drift found: 3" in page


def test_each_kind_is_paged_on_its_own(admin, store, lead_id, monkeypatch):
    monkeypatch.setattr(reconcile_pages, "ITEMS_PER_PAGE", 2)
    run_id = make_run(store, [differs(lead_id, n) for n in range(5)] + [duplicate(lead_id)], day=0)
    first = text_of(admin.get(f"/admin/reconcile/{run_id}"))
    assert "Field0__c" in first and "Field1__c" in first and "Field2__c" not in first
    assert "page 1 of 3" in first and "12, 13" in first  # the duplicates are on their own first page
    assert f'href="/admin/reconcile/{run_id}?differs_page=2#kind-differs"' in first
    third = text_of(admin.get(f"/admin/reconcile/{run_id}?differs_page=3&duplicate_page=1"))
    assert "Field4__c" in third and "Field0__c" not in third and "page 3 of 3" in third
    assert f'href="/admin/reconcile/{run_id}?differs_page=2&duplicate_page=1#kind-differs"' in third
    beyond = text_of(admin.get(f"/admin/reconcile/{run_id}?differs_page=40"))
    assert "Field4__c" in beyond  # clamped to the last page


def test_lead_names_are_escaped_and_items_without_a_lead_say_so(admin, store):
    run_id = make_run(store, [differs(None, 1, name="<script>alert(1)</script>")], day=0)
    response = admin.get(f"/admin/reconcile/{run_id}")
    assert "<script>alert(1)</script>" not in response.text and "no lead" in response.text


def test_a_failed_run_shows_why(admin, store):
    run_id = store.reconciliations.start("full", False, False, None, "cli", T0)
    store.reconciliations.save_items(run_id, [differs(None, 1)])
    store.reconciliations.finish(run_id, "failed", T0, error="Salesforce: HTTP 503")
    page = text_of(admin.get(f"/admin/reconcile/{run_id}"))
    assert "The run failed: Salesforce: HTTP 503" in page
    assert "Fields that differ (1)" in page  # the items it saved are still listed, counted from the items


# -- downloads ------------------------------------------------------------------------------------------------------
def test_the_csv_download_opens_in_excel(admin, runs, monkeypatch):
    monkeypatch.setattr(reconcile_pages, "DOWNLOAD_BATCH", 2)  # several reads while the response streams
    response = admin.get(f"/admin/reconcile/{runs[1]}.csv", headers=JA)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="bridge-reconcile-{runs[1]}.csv"'
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"), newline="")))
    assert rows[0][:3] == ["実行", "種類", "種類コード"] and len(rows) == 4
    assert sorted(r[2] for r in rows[1:]) == ["differs", "differs", "duplicate"]
    english = admin.get(f"/admin/reconcile/{runs[1]}.csv?lang=en", headers=JA)
    assert english.data.decode("utf-8-sig").startswith("Run,Kind,")


def test_the_json_download_round_trips(admin, runs):
    response = admin.get(f"/admin/reconcile/{runs[1]}.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = json.loads(response.data)
    assert document["summary"]["total"] == 3 and document["summary"]["previous"]["id"] == runs[0]
    assert [i["kind"] for i in document["items"]] == ["differs", "differs", "duplicate"]
    assert document["items"][2]["details"]["records"] == ["12", "13"]
    assert document["items"][0]["words"]["ja"]["finding"].startswith("Salesforce の Field1__c")


# -- the lead page ----------------------------------------------------------------------------------------------------
def test_the_lead_page_names_the_drift_found_on_it(admin, runs, lead_id):
    page = text_of(admin.get(f"/admin/leads/{lead_id}"))
    assert f"Reconciliation #{runs[1]} (" in page
    assert "Fields that differ: Field1__c, Field2__c · Duplicates (a person decides)" in page
    assert "Field0__c" not in page  # found by the first run only: the line is the newest run's
    assert f'<a href="/admin/reconcile/{runs[1]}">see the report</a>' in page
    japanese = text_of(admin.get(f"/admin/leads/{lead_id}", headers=JA))
    assert "値が食い違っている項目: Field1__c, Field2__c · 重複レコード (要判断)" in japanese


def test_the_lead_page_says_when_the_drift_was_repaired(admin, store, lead_id):
    run_id = make_run(store, [differs(lead_id, 4)], day=0, status="applied")
    item = store.reconciliations.items(run_id)[0]
    store.reconciliations.mark_repaired(run_id, [item["id"]], T0 + timedelta(minutes=5))
    page = text_of(admin.get(f"/admin/leads/{lead_id}"))
    assert "Fields that differ: Field4__c (repaired)" in page
    assert "Repaired 2026-11-21 18:05 JST." in text_of(admin.get(f"/admin/reconcile/{run_id}"))


def test_a_lead_without_drift_has_no_line(admin, lead_id):
    assert "see the report" not in text_of(admin.get(f"/admin/leads/{lead_id}"))
