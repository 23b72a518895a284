"""A reconciliation run's report: summary, trends and items by kind, as CSV, JSON, terminal text and a Slack summary."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import tzinfo
from typing import Any

from bridge.reconcile import words
from bridge.reconcile.model import KINDS, Drift
from bridge.reconcile.words import DEFAULT_ZONE

#: Runs that read both sides to the end (as store.reconciliations.last_finished counts them): only these have
#: counts worth comparing with; a failed or interrupted run found only part of the drift.
FINISHED = ("planned", "applied", "refused")
SYSTEMS = ("hubspot", "salesforce", "kintone")
JSON_FORMAT = "bridge-reconcile-report/1"
CSV_COLUMNS = ("run", "kind", "kind_code", "lead_id", "lead", "system", "object", "record_id", "field", "actual",
               "expected", "action", "action_code", "reason_code", "changed_side", "changed_at", "changed_by",
               "repaired_at", "description")
CSV_HEADERS = {
    "en": ("Run", "Kind", "Kind code", "Lead id", "Lead", "System", "Object", "Record id", "Field", "Value it holds",
           "Value the other side says", "Proposed action", "Action code", "Reason code", "Changed in", "Changed at",
           "Changed by", "Repaired at", "What it means"),
    "ja": ("実行", "種類", "種類コード", "リード ID", "リード", "システム", "オブジェクト", "レコード ID", "項目",
           "現在の値", "相手側の値", "対応", "対応コード", "理由コード", "変更したシステム", "変更日時", "変更者",
           "修復日時", "内容"),
}
# A cell Excel would run as a formula (=, +, -, @ and the rest; https://owasp.org/www-community/attacks/CSV_Injection):
# lead names and field values come from web forms, so such a cell is written with a leading apostrophe. A plain
# number such as -5 is left alone.
_FORMULA = re.compile(r"^[=+\-@\t\r]")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def _dict(item: Drift | Mapping[str, Any]) -> dict[str, Any]:
    return item.to_dict() if isinstance(item, Drift) else dict(item)


def _kinds(*counts: Mapping[str, int]) -> list[str]:
    """KINDS in their order, then any other kind the counts name (a kind added later still shows)."""
    extra = sorted({kind for c in counts for kind in c} - set(KINDS))
    return [*KINDS, *extra]


# -- summary ----------------------------------------------------------------------------------------------------
def comparable(run: Mapping[str, Any], runs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The runs `run` can be compared with, newest first: earlier, of the same mode (an incremental run reads only
    what changed, so its counts say nothing against a full one) and read to the end."""
    return sorted((r for r in runs if r["id"] < run["id"] and r.get("mode") == run.get("mode")
                   and r.get("status") in FINISHED), key=lambda r: r["id"], reverse=True)


def previous_run(runs: Iterable[Mapping[str, Any]], run: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The run `run`'s trends are counted against (see comparable), or None."""
    earlier = comparable(run, runs)
    return earlier[0] if earlier else None


def _total(run: Mapping[str, Any]) -> int:
    return sum((run.get("found") or {}).values())


def trends(counts: Mapping[str, int], previous: Mapping[str, int] | None) -> list[dict[str, Any]]:
    """Drift per kind with its change since the previous comparable run (None when there is none)."""
    return [{"kind": kind, "count": int(counts.get(kind, 0)),
             "previous": None if previous is None else int(previous.get(kind, 0)),
             "change": None if previous is None else int(counts.get(kind, 0)) - int(previous.get(kind, 0))}
            for kind in _kinds(counts, previous or {})]


def summary(run: Mapping[str, Any], previous: Mapping[str, Any] | None = None,
            counts: Mapping[str, int] | None = None, history: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """What the run compared, found (by kind, against `previous`: see previous_run), repaired and left to a person.

    `counts` (kind -> items) stands in for the run's stored `found` when that is empty (a run still going, or one
    that failed after saving its items). `history`: earlier runs whose totals to list, oldest first, with this one
    (only the comparable ones are kept)."""
    found = dict(run.get("found") or {}) or dict(counts or {})
    total = sum(found.values())
    compared = run.get("compared") or {}
    needs_person = int(run.get("needs_person") or 0)
    return {
        "run": {key: run.get(key) for key in ("id", "mode", "status", "doit", "force", "trigger", "since",
                                             "started_at", "finished_at", "share", "error")},
        "compared": [{"system": system, "records": int(compared[system])}
                     for system in (*SYSTEMS, *sorted(set(compared) - set(SYSTEMS))) if system in compared],
        "calls": dict(run.get("calls") or {}),
        "kinds": trends(found, None if previous is None else previous.get("found") or {}),
        "total": total,
        "previous": None if previous is None else {"id": previous["id"], "mode": previous.get("mode"),
                                                   "started_at": previous.get("started_at"),
                                                   "total": _total(previous)},
        "change": None if previous is None else total - _total(previous),
        "repaired": int(run.get("repaired") or 0),
        "needs_person": needs_person,
        "to_repair": max(total - needs_person, 0),
        "history": [{"id": r["id"], "started_at": r.get("started_at"), "total": _total(r)}
                    for r in reversed(comparable(run, history))]
        + [{"id": run.get("id"), "started_at": run.get("started_at"), "total": total}],
    }


def change_text(change: int | None, lang: str = "en") -> str:
    """`+3`, `-2`, `±0`; without an earlier run to compare, says so."""
    if change is None:
        return words.phrase("new", lang)
    return f"+{change}" if change > 0 else (f"{change}" if change < 0 else "±0")


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


# -- items ------------------------------------------------------------------------------------------------------
def grouped(items: Iterable[Drift | Mapping[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Items by kind, kinds in KINDS order (empty kinds left out), items in their given order."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        fields = _dict(item)
        by_kind.setdefault(fields["kind"], []).append(fields)
    return [(kind, by_kind[kind]) for kind in _kinds(by_kind) if kind in by_kind]


def item_view(item: Drift | Mapping[str, Any], lang: str = "en", zone: tzinfo = DEFAULT_ZONE) -> dict[str, Any]:
    """An item with its words in one language: kind and action named, what is wrong, what --doit does."""
    fields = _dict(item)
    return {**fields, "kind_title": words.kind_title(fields["kind"], lang),
            "action_label": words.action_label(fields["action"], lang),
            "reason_label": words.reason_label(fields["reason"], lang),
            "system_name": words.system_name(fields.get("system")),
            "finding": words.finding(fields, lang, zone), "remedy": words.remedy(fields, lang, zone),
            "sentence": words.sentence(fields, lang, zone)}


# -- CSV --------------------------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if _FORMULA.match(text) and not _NUMBER.match(text):
        return "'" + text
    return text


def csv_chunks(run: Mapping[str, Any], items: Iterable[Drift | Mapping[str, Any]], lang: str = "ja",
               zone: tzinfo = DEFAULT_ZONE) -> Iterator[str]:
    """The items as CSV, a header row in `lang` first, one row per item; yielded a row at a time so a large run
    streams. Starts with a UTF-8 byte-order mark: Excel opened on a Japanese Windows reads a CSV without one as
    Shift_JIS (CP932), which garbles every Japanese name; with it, Excel reads UTF-8
    (https://support.microsoft.com/en-us/office/opening-csv-utf-8-files-correctly-in-excel-8a935af5-3416-4edd-ba7e-3dfd2bc4a032).
    Encode the text as UTF-8, not utf-8-sig, which would add a second mark."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180's line ends, which Excel expects

    def row(values: Iterable[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(v) for v in values])
        return buffer.getvalue()

    yield "\ufeff" + row(CSV_HEADERS["ja" if lang == "ja" else "en"])
    for item in items:
        fields = _dict(item)
        yield row((run.get("id"), words.kind_title(fields["kind"], lang), fields["kind"], fields.get("lead_id"),
                   fields.get("lead_name"), words.system_name(fields.get("system")), fields.get("object"),
                   fields.get("record_id"), fields.get("field"), fields.get("actual"), fields.get("expected"),
                   words.action_label(fields["action"], lang), fields["action"], fields["reason"],
                   words.system_name(fields["changed_side"]) if fields.get("changed_side") else None,
                   words.shown_time(fields.get("changed_at"), zone), fields.get("changed_by"),
                   words.shown_time(fields.get("repaired_at"), zone), words.sentence(fields, lang, zone)))


def to_csv(run: Mapping[str, Any], items: Iterable[Drift | Mapping[str, Any]],
           previous: Mapping[str, Any] | None = None, lang: str = "ja", zone: tzinfo = DEFAULT_ZONE) -> str:
    """The whole CSV as text, BOM first: write it encoded as plain UTF-8. (`previous` is unused, a CSV holds the
    items only; it is taken so that text, to_json and to_csv are called alike.)"""
    return "".join(csv_chunks(run, items, lang, zone))


# -- JSON -------------------------------------------------------------------------------------------------------
def _json_item(fields: Mapping[str, Any], zone: tzinfo) -> dict[str, Any]:
    return {**fields, "words": {lang: {"kind": words.kind_title(fields["kind"], lang),
                                       "action": words.action_label(fields["action"], lang),
                                       "finding": words.finding(fields, lang, zone),
                                       "remedy": words.remedy(fields, lang, zone)} for lang in words.LANGUAGES}}


def json_chunks(run: Mapping[str, Any], items: Iterable[Drift | Mapping[str, Any]],
                previous: Mapping[str, Any] | None = None, counts: Mapping[str, int] | None = None,
                history: Iterable[Mapping[str, Any]] = (), zone: tzinfo = DEFAULT_ZONE) -> Iterator[str]:
    """The report as one JSON document for tools, streamed: {"format", "summary", "items": [...]}; each item has
    the Drift fields (codes, values as stored) and its words in both languages."""
    head = {"format": JSON_FORMAT, "summary": summary(run, previous, counts, history)}
    yield json.dumps(head, ensure_ascii=False, default=str)[:-1] + ', "items": ['
    for n, item in enumerate(items):
        yield ("" if n == 0 else ", ") + json.dumps(_json_item(_dict(item), zone), ensure_ascii=False, default=str)
    yield "]}"


def to_json(run: Mapping[str, Any], items: Iterable[Drift | Mapping[str, Any]],
            previous: Mapping[str, Any] | None = None, counts: Mapping[str, int] | None = None,
            history: Iterable[Mapping[str, Any]] = (), zone: tzinfo = DEFAULT_ZONE) -> str:
    return "".join(json_chunks(run, items, previous, counts, history, zone))


# -- words for people: the terminal and Slack ---------------------------------------------------------------------
def summary_lines(digest: Mapping[str, Any], lang: str = "en", zone: tzinfo = DEFAULT_ZONE) -> list[str]:
    """The summary in sentences: what ran, what was compared, the drift by kind with trends, what was (or would be)
    repaired and what needs a person, and why a run stopped."""
    run = digest["run"]
    head = [words.phrase("title", lang, id=run["id"]), words.mode_label(run.get("mode") or "", lang),
            words.status_label(run.get("status") or "", lang), words.shown_time(run.get("started_at"), zone)]
    if run.get("trigger"):
        head.append(words.trigger_label(run["trigger"], lang))
    lines = [" · ".join(part for part in head if part)]
    if digest["compared"]:
        systems = " · ".join(f"{words.system_name(c['system'])} {c['records']:,}" for c in digest["compared"])
        lines.append(words.phrase("compared", lang, systems=systems))
    else:
        lines.append(words.phrase("nothing_compared", lang))
    previous = digest["previous"]
    if previous is None:
        lines.append(words.phrase("found", lang, n=f"{digest['total']:,}"))
    else:
        lines.append(words.phrase("found_trend", lang, n=f"{digest['total']:,}", previous=f"{previous['total']:,}",
                                  run=previous["id"], change=change_text(digest["change"], lang)))
    for kind in digest["kinds"]:
        if kind["count"] or kind["previous"]:
            trend = "" if kind["change"] is None else f" ({change_text(kind['change'], lang)})"
            lines.append("  " + words.phrase("kind_count", lang, kind=words.kind_title(kind["kind"], lang),
                                             n=f"{kind['count']:,}") + trend)
    status = run.get("status")
    if digest["total"] == 0 and status in FINISHED:
        lines.append(words.phrase("no_drift", lang))
    elif status == "applied":
        lines.append(words.phrase("repaired", lang, n=f"{digest['repaired']:,}", person=f"{digest['needs_person']:,}"))
    elif status in ("planned", "refused"):
        lines.append(words.phrase("to_repair", lang, n=f"{digest['to_repair']:,}",
                                  person=f"{digest['needs_person']:,}"))
    if status == "refused":
        lines.append(words.phrase("refused", lang, share=percent(run.get("share"))))
    elif status == "failed":
        lines.append(words.phrase("failed", lang, error=run.get("error") or "—"))
    elif status in ("interrupted", "running"):
        lines.append(words.phrase(status, lang))
    return lines


def _who(item: Mapping[str, Any], lang: str) -> str:
    name = item.get("lead_name") or words.phrase("no_name", lang)
    return f"{name} ({words.phrase('lead', lang, id=item['lead_id'])})" if item.get("lead_id") else name


def text(run: Mapping[str, Any], items: Iterable[Drift | Mapping[str, Any]],
         previous: Mapping[str, Any] | None = None, lang: str = "en", zone: tzinfo = DEFAULT_ZONE,
         per_kind: int = 20, counts: Mapping[str, int] | None = None) -> str:
    """The report for a terminal: the summary, then up to `per_kind` items of each kind in sentences."""
    digest = summary(run, previous, counts)
    lines = summary_lines(digest, lang, zone)
    totals = {k["kind"]: k["count"] for k in digest["kinds"]}
    for kind, of_kind in grouped(items):
        total = max(totals.get(kind, 0), len(of_kind))
        lines += ["", f"{words.kind_title(kind, lang)} ({total:,})"]
        lines += [f"  • {_who(item, lang)}: {words.sentence(item, lang, zone)}" for item in of_kind[:per_kind]]
        if total > per_kind:
            lines.append("  " + words.phrase("more", lang, n=f"{total - min(per_kind, len(of_kind)):,}"))
    return "\n".join(lines) + "\n"


def slack_summary(run: Mapping[str, Any], previous: Mapping[str, Any] | None = None, *,
                  escape: Callable[[str], str], counts: Mapping[str, int] | None = None,
                  needs_person: Sequence[Drift | Mapping[str, Any]] = (), report_url: str | None = None,
                  shown: int = 5, zone: tzinfo = DEFAULT_ZONE) -> str:
    """The run's summary for Slack, each line in Japanese then English (as Bridge's other notices), naming up to
    `shown` of the leads a person must look at, and a link to the report when `report_url` is given.

    `escape` is bridge.worker.notify.for_slack: a lead's name or a value could otherwise hold `<!channel>` or a
    disguised link. It is passed in because this package may not import the worker (tests/test_walls.py); every
    line goes through it, and only the link, built from Bridge's own setting, does not."""
    digest = summary(run, previous, counts)
    ja, en = summary_lines(digest, "ja", zone), summary_lines(digest, "en", zone)
    lines = [f"🔎 {ja[0]} / {en[0]}"]
    lines += [f"• {j.strip()} / {e.strip()}" if j.startswith("  ") else f"{j} / {e}"
              for j, e in zip(ja[1:], en[1:], strict=True)]
    if needs_person:
        lines.append(f"{words.phrase('person_list', 'ja')} / {words.phrase('person_list', 'en')}")
        for item in needs_person[:shown]:
            fields = _dict(item)
            kind = f"{words.kind_title(fields['kind'], 'ja')} / {words.kind_title(fields['kind'], 'en')}"
            field = f" {fields['field']}" if fields.get("field") else ""
            lines.append(f"• {fields.get('lead_name') or words.phrase('no_name', 'ja')} — {kind} "
                         f"({words.system_name(fields.get('system'))}{field})")
        rest = max(digest["needs_person"], len(needs_person)) - min(shown, len(needs_person))
        if rest > 0:
            lines.append(f"{words.phrase('more', 'ja', n=rest)} / {words.phrase('more', 'en', n=rest)}")
    message = "\n".join(escape(line) for line in lines)
    if report_url:
        message += f"\n<{report_url}|{words.phrase('open_report', 'ja')} / {words.phrase('open_report', 'en')}>"
    return message
