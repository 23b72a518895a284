"""A run's report: summary with trends, items by kind, and its CSV (BOM, header), JSON, terminal and Slack forms."""

from __future__ import annotations

import csv
import io
import json

import pytest

from bridge.reconcile import report
from bridge.reconcile.model import KINDS, Drift
from bridge.worker.notify import for_slack


def run_row(run_id: int, mode: str = "full", status: str = "planned", **found: int) -> dict:
    """A run as store.reconciliations.run gives it (JSON columns decoded)."""
    return {"id": run_id, "mode": mode, "status": status, "doit": int(status == "applied"), "force": 0,
            "trigger": "schedule", "since": None, "started_at": f"2026-12-{run_id:02d}T17:00:00.000Z",
            "finished_at": f"2026-12-{run_id:02d}T17:03:00.000Z",
            "compared": {"salesforce": 990, "hubspot": 1000, "kintone": 500}, "found": found,
            "repaired": 0, "needs_person": found.get("duplicate", 0), "calls": {"hubspot": 12, "salesforce": 3},
            "share": 0.004, "error": None}


DIFFERS = Drift("differs", "salesforce", "Lead", "upsert", "source_wins", 12, "佐藤 花子 <hanako@example.co.jp>",
                "00Q1", "Company", "ACME Corp", "Acme", "salesforce", "2026-12-01T01:02:00Z", "005xx",
                {"route": "sf", "rule": "to_target"})
DUPLICATE = Drift("duplicate", "kintone", "7", "person", "same_key", 14, "<!channel> 山田 & 太郎", "12, 13",
                  details={"route": "kt", "key_field": "hubspot_id", "key": "501", "records": ["12", "13"]})
STALE = Drift("stale", "hubspot", "contacts", "writeback", "score_stale", 12, "佐藤 花子", "501", "bridge_score",
              115, 85, "bridge")


# -- summary and trends -----------------------------------------------------------------------------------------
def test_the_previous_comparable_run_is_the_newest_earlier_one_of_the_same_mode_that_finished():
    run = run_row(9)
    runs = [run_row(10), run_row(8, mode="incremental"), run_row(7, status="failed"), run_row(6, status="interrupted"),
            run_row(5, status="applied"), run_row(4, status="refused"), run_row(3)]
    assert report.previous_run(runs, run)["id"] == 5
    assert [r["id"] for r in report.comparable(run, runs)] == [5, 4, 3]
    assert report.previous_run([run_row(10), run_row(8, mode="incremental")], run) is None


def test_drift_by_kind_with_the_change_since_the_previous_comparable_run():
    previous = run_row(5, differs=5, orphan=2)
    digest = report.summary(run_row(9, differs=7, duplicate=1), previous)
    kinds = {k["kind"]: k for k in digest["kinds"]}
    assert [k["kind"] for k in digest["kinds"]] == list(KINDS)
    assert kinds["differs"] == {"kind": "differs", "count": 7, "previous": 5, "change": 2}
    assert kinds["orphan"] == {"kind": "orphan", "count": 0, "previous": 2, "change": -2}
    assert kinds["duplicate"] == {"kind": "duplicate", "count": 1, "previous": 0, "change": 1}
    assert (digest["total"], digest["previous"]["total"], digest["change"]) == (8, 7, 1)
    assert [c["system"] for c in digest["compared"]] == ["hubspot", "salesforce", "kintone"]
    assert (digest["needs_person"], digest["to_repair"], digest["repaired"]) == (1, 7, 0)


def test_without_a_previous_run_there_is_no_trend():
    digest = report.summary(run_row(1, differs=3))
    assert digest["previous"] is None and digest["change"] is None
    assert all(k["previous"] is None and k["change"] is None for k in digest["kinds"])
    assert report.change_text(None, "en") == "no earlier run to compare"
    assert [report.change_text(n) for n in (3, -2, 0)] == ["+3", "-2", "±0"]


def test_a_kind_added_later_still_shows_after_the_known_ones():
    digest = report.summary(run_row(2, differs=1, ghost=4), run_row(1, differs=1))
    assert [k["kind"] for k in digest["kinds"]][-1] == "ghost" and digest["total"] == 5


def test_the_history_lists_the_comparable_runs_oldest_first_ending_with_this_one():
    runs = [run_row(1, differs=4), run_row(2, mode="incremental", differs=1), run_row(3, differs=2)]
    digest = report.summary(run_row(4, differs=3), runs[2], history=runs)
    assert [(h["id"], h["total"]) for h in digest["history"]] == [(1, 4), (3, 2), (4, 3)]


def test_counts_stand_in_for_a_run_that_stored_none():
    running = {**run_row(3), "status": "running", "found": {}, "finished_at": None}
    assert report.summary(running, counts={"missing": 2})["total"] == 2
    assert "Still running." in report.summary_lines(report.summary(running), "en")


# -- items ------------------------------------------------------------------------------------------------------
def test_items_are_grouped_by_kind_in_the_reports_order():
    groups = report.grouped([STALE, DUPLICATE, DIFFERS, {**DIFFERS.to_dict(), "field": "Title"}])
    assert [kind for kind, _ in groups] == ["differs", "duplicate", "stale"]
    assert [i["field"] for i in groups[0][1]] == ["Company", "Title"]


def test_an_item_view_carries_its_words_in_one_language():
    view = report.item_view(DIFFERS, "ja")
    assert view["kind_title"] == "値が食い違っている項目" and view["action_label"] == "営業システムへ再送"
    assert view["finding"].startswith("Salesforce の Company は「Acme」") and view["sentence"].endswith("。")
    assert view["lead_id"] == 12 and view["expected"] == "ACME Corp"


# -- CSV --------------------------------------------------------------------------------------------------------
def _rows(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


@pytest.mark.parametrize(("lang", "first"), [("ja", "実行"), ("en", "Run")])
def test_the_csv_opens_with_the_bom_and_a_header_row(lang, first):
    text = report.to_csv(run_row(9, differs=1), [DIFFERS, DUPLICATE, STALE], lang=lang)
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    assert text.count("\ufeff") == 1
    rows = _rows(text)
    assert rows[0][0] == first and len(rows[0]) == len(report.CSV_COLUMNS)
    assert len(rows) == 4 and {len(r) for r in rows} == {len(report.CSV_COLUMNS)}
    row = dict(zip(report.CSV_COLUMNS, rows[1], strict=True))
    assert (row["kind_code"], row["lead"], row["field"], row["actual"], row["expected"]) == \
        ("differs", "佐藤 花子 <hanako@example.co.jp>", "Company", "Acme", "ACME Corp")
    assert row["changed_at"] == "2026-12-01 10:02 JST" and row["action_code"] == "upsert"
    assert row["description"].startswith("Salesforce")


def test_csv_cells_keep_commas_quotes_and_breaks_and_never_run_as_formulas():
    tricky = Drift("differs", "salesforce", "Lead", "upsert", "source_wins", 1, '山田, "Taro"\n太郎', "00Q2", "Title",
                   "=HYPERLINK(\"http://x\")", "-5", details={"route": "sf", "rule": "to_target"})
    row = dict(zip(report.CSV_COLUMNS, _rows(report.to_csv(run_row(1), [tricky], lang="en"))[1], strict=True))
    assert row["lead"] == '山田, "Taro"\n太郎'
    assert row["expected"] == "'=HYPERLINK(\"http://x\")" and row["actual"] == "-5"


def test_csv_chunks_stream_a_row_at_a_time():
    chunks = list(report.csv_chunks(run_row(1), [DIFFERS, STALE], "en"))
    assert len(chunks) == 3 and chunks[0].startswith("\ufeffRun,")
    assert "".join(chunks) == report.to_csv(run_row(1), [DIFFERS, STALE], lang="en")


# -- JSON -------------------------------------------------------------------------------------------------------
def test_the_json_round_trips():
    run, previous = run_row(9, differs=1, duplicate=1, stale=1), run_row(8, differs=3)
    document = json.loads(report.to_json(run, [DIFFERS, DUPLICATE, STALE], previous))
    assert document["format"] == report.JSON_FORMAT
    assert document["summary"] == json.loads(json.dumps(report.summary(run, previous)))
    items = [{k: v for k, v in item.items() if k != "words"} for item in document["items"]]
    assert items == [d.to_dict() for d in (DIFFERS, DUPLICATE, STALE)]
    assert [Drift(**item) for item in items] == [DIFFERS, DUPLICATE, STALE]
    assert document["items"][0]["words"]["ja"]["finding"].startswith("Salesforce の Company")
    assert document["items"][0]["words"]["en"]["remedy"].startswith("--doit writes HubSpot's value")


def test_the_json_of_a_run_without_items_is_still_a_document():
    document = json.loads("".join(report.json_chunks(run_row(1), [])))
    assert document["items"] == [] and document["summary"]["total"] == 0


# -- the terminal -------------------------------------------------------------------------------------------------
def test_text_gives_the_summary_then_each_kinds_items_in_sentences():
    text = report.text(run_row(9, differs=2, duplicate=1), [DUPLICATE, DIFFERS, DIFFERS], run_row(8, differs=5),
                       per_kind=1)
    lines = text.splitlines()
    assert lines[0] == "Reconciliation #9 · full · plan only (nothing changed) · 2026-12-10 02:00 JST · schedule"
    assert lines[1] == "Records compared: HubSpot 1,000 · Salesforce 990 · kintone 500"
    assert lines[2] == "Drift found: 3 (5 in the previous comparable run #8: -2)"
    assert "  Fields that differ: 2 (-3)" in lines and "  Duplicates: 1 (+1)" in lines
    assert "--doit would repair 2. A person must decide: 1." in lines
    assert text.index("Fields that differ (2)") < text.index("Duplicates (1)")
    assert "  • 佐藤 花子 <hanako@example.co.jp> (lead 12): Salesforce holds 'Acme' in Company" in text
    assert "  … and 1 more: see the admin pages or the CSV." in lines


def test_text_in_japanese_and_for_runs_that_stopped():
    refused = {**run_row(4, status="refused", differs=80), "share": 0.08}
    text = report.text(refused, [], lang="ja")
    assert "見つかった差分: 80 件" in text and "比較したレコードの 8.0% を変更する計画" in text
    failed = {**run_row(5, status="failed"), "error": "HubSpot: HTTP 401"}
    assert "The run failed: HubSpot: HTTP 401" in report.text(failed, [])
    assert "No drift: the systems agree." in report.text(run_row(6), [])


# -- Slack ------------------------------------------------------------------------------------------------------
def test_the_slack_summary_escapes_what_leads_and_values_could_smuggle_in():
    text = report.slack_summary(run_row(9, differs=1, duplicate=1), run_row(8, differs=1), escape=for_slack,
                                needs_person=[DUPLICATE], report_url="https://bridge.example.jp/admin/reconcile/9")
    assert "<!channel>" not in text and "&lt;!channel&gt; 山田 &amp; 太郎" in text
    assert text.count("<") == 1 and text.endswith("<https://bridge.example.jp/admin/reconcile/9|レポートを開く / "
                                                  "Open the report>")
    lines = text.splitlines()
    assert lines[0].startswith("🔎 突き合わせ #9 · 全件") and " / Reconciliation #9 · full" in lines[0]
    assert "• 値が食い違っている項目: 1 件 (±0) / Fields that differ: 1 (±0)" in lines
    assert "• &lt;!channel&gt; 山田 &amp; 太郎 — 重複レコード / Duplicates (kintone)" in lines


def test_the_slack_summary_says_how_many_more_need_a_person_than_it_names():
    many = {**run_row(3, duplicate=9)}
    text = report.slack_summary(many, escape=for_slack, needs_person=[DUPLICATE] * 2, shown=2)
    assert "… ほか 7 件" in text and "… and 7 more" in text
    assert "http" not in text  # no link without a report URL


def test_the_slack_summary_needs_the_escaping_function():
    with pytest.raises(TypeError):
        report.slack_summary(run_row(1))  # type: ignore[call-arg]
