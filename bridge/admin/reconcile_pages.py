"""Admin pages of the reconciliation: the run history, each run's report (paged per kind), its CSV and JSON."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, g, request, url_for

from bridge.admin.i18n import LANGUAGES
from bridge.admin.pages import DISPLAY_ZONE, _error, _page, bp
from bridge.reconcile import report, words
from bridge.reconcile.model import KINDS

RUNS_PER_PAGE = 30
ITEMS_PER_PAGE = 50
HISTORY = 7  # comparable runs whose totals a report lists
DOWNLOAD_BATCH = 1000  # items read per query while a download streams
LEAD_DRIFT_ITEMS = 50


def _store():
    return current_app.extensions["bridge"].store


def _number(name: str) -> int:
    try:
        return max(1, int(request.args.get(name, "1")))
    except ValueError:
        return 1


def _run_view(run: dict[str, Any], lang: str) -> dict[str, Any]:
    """A run for the history: its words in the page's language and its counts."""
    found = run.get("found") or {}
    return {**run, "status_label": words.status_label(run["status"], lang),
            "mode_label": words.mode_label(run["mode"], lang),
            "trigger_label": words.trigger_label(run["trigger"], lang), "total": sum(found.values()),
            "kinds": [(words.kind_title(kind, lang), found[kind]) for kind in _kinds(run) if found.get(kind)],
            "compared_list": [(words.system_name(system), n) for system, n in (run.get("compared") or {}).items()]}


@bp.get("/reconcile")
def reconcile():
    """Every run, newest first, with its status, mode, what it found, repaired and left to a person."""
    page = _number("page")
    rows = _store().reconciliations.runs(RUNS_PER_PAGE + 1, (page - 1) * RUNS_PER_PAGE)
    return _page("reconcile.html", runs=[_run_view(r, g.t.language) for r in rows[:RUNS_PER_PAGE]], page=page,
                 more=len(rows) > RUNS_PER_PAGE)


def _run_or_404(run_id: int) -> dict[str, Any] | Response:
    run = _store().reconciliations.run(run_id)
    if run is None:
        return _error(404, "error.not_found.title", "error.no_run", id=run_id)
    return run


def _kinds(run: dict[str, Any]) -> list[str]:
    return [*KINDS, *sorted(set(run.get("found") or {}) - set(KINDS))]


@bp.get("/reconcile/<int:run_id>")
def reconcile_run(run_id: int):
    """A run's report: the summary, then its items by kind, each kind paged on its own (`<kind>_page`)."""
    run = _run_or_404(run_id)
    if isinstance(run, Response):
        return run
    store, lang = _store().reconciliations, g.t.language
    counts = {kind: store.item_count(run_id, kind) for kind in _kinds(run)}
    history = store.earlier(run_id, run["mode"], HISTORY - 1)
    digest = report.summary(run, report.previous_run(history, run), counts, history)
    kinds = [{**k, "title": words.kind_title(k["kind"], lang), "help": words.kind_help(k["kind"], lang),
              "change_text": report.change_text(k["change"], lang)} for k in digest["kinds"]]
    groups = []
    for kind in _kinds(run):
        total = counts.get(kind, 0)
        if not total:
            continue
        pages = -(-total // ITEMS_PER_PAGE)
        page = min(_number(f"{kind}_page"), pages)
        items = store.items(run_id, kind, ITEMS_PER_PAGE, (page - 1) * ITEMS_PER_PAGE)
        groups.append({"kind": kind, "title": words.kind_title(kind, lang), "help": words.kind_help(kind, lang),
                       "total": total, "page": page, "pages": pages,
                       "previous_url": _kind_page_url(run_id, kind, page - 1) if page > 1 else None,
                       "next_url": _kind_page_url(run_id, kind, page + 1) if page < pages else None,
                       "items": [report.item_view(item, lang, DISPLAY_ZONE) for item in items]})
    # The summary's sentences past its heading and the compared line (the tables below show those, and the kinds).
    lines = [line for line in report.summary_lines(digest, lang, DISPLAY_ZONE)[2:] if not line.startswith("  ")]
    compared = [{**c, "name": words.system_name(c["system"])} for c in digest["compared"]]
    return _page("reconcile_run.html", run=_run_view(run, lang), digest=digest, compared=compared, kinds=kinds,
                 groups=groups, lines=lines, share=report.percent(run.get("share")))


def _kind_page_url(run_id: int, kind: str, page: int) -> str:
    """This kind's page `page`, the other kinds staying on the pages they show, back at this kind's heading."""
    args = {name: value for name, value in request.args.items() if name.endswith("_page")}
    args[f"{kind}_page"] = str(page)
    return url_for(".reconcile_run", run_id=run_id, **args) + f"#kind-{kind}"


def _all_items(store, run_id: int) -> Iterator[dict[str, Any]]:
    """Every item of a run, read a batch at a time so a large run streams rather than loads whole. Takes the store
    itself: the response streams after the request's context (and current_app) is gone."""
    offset = 0
    while True:
        batch = store.items(run_id, limit=DOWNLOAD_BATCH, offset=offset)
        yield from batch
        if len(batch) < DOWNLOAD_BATCH:
            return
        offset += DOWNLOAD_BATCH


def _download(chunks: Iterator[str], mimetype: str, name: str) -> Response:
    response = Response((chunk.encode("utf-8") for chunk in chunks), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/reconcile/<int:run_id>.csv")
def reconcile_csv(run_id: int):
    """The run's items as CSV (UTF-8 with a BOM, for Excel), in the page's language or `?lang=ja|en`."""
    run = _run_or_404(run_id)
    if isinstance(run, Response):
        return run
    lang = request.args.get("lang") if request.args.get("lang") in LANGUAGES else g.t.language
    items = _all_items(_store().reconciliations, run_id)
    return _download(report.csv_chunks(run, items, lang, DISPLAY_ZONE), "text/csv",
                     f"bridge-reconcile-{run_id}.csv")


@bp.get("/reconcile/<int:run_id>.json")
def reconcile_json(run_id: int):
    """The run's report as JSON: the summary and every item, with its words in both languages."""
    run = _run_or_404(run_id)
    if isinstance(run, Response):
        return run
    store = _store().reconciliations
    counts = {kind: store.item_count(run_id, kind) for kind in _kinds(run)}
    history = store.earlier(run_id, run["mode"], HISTORY - 1)
    chunks = report.json_chunks(run, _all_items(store, run_id), report.previous_run(history, run), counts, history,
                                DISPLAY_ZONE)
    return _download(chunks, "application/json", f"bridge-reconcile-{run_id}.json")


@bp.context_processor
def reconcile_helpers() -> dict[str, object]:
    return {"lead_drift": lead_drift}


def lead_drift(lead_id: int) -> dict[str, Any] | None:
    """What the newest run that found drift on this lead found, for the lead page: per kind, its title in the
    page's language, the fields, and whether it was repaired or waits for a person; None when no run found any."""
    items = _store().reconciliations.items_of_lead(lead_id, LEAD_DRIFT_ITEMS)
    if not items:
        return None
    run_id, lang = items[0]["run_id"], g.t.language
    kinds: dict[str, dict[str, Any]] = {}
    for item in reversed([item for item in items if item["run_id"] == run_id]):  # oldest first, as the report
        kind = kinds.setdefault(item["kind"], {"title": words.kind_title(item["kind"], lang), "fields": [],
                                               "person": False, "repaired": True})
        if item.get("field") and item["field"] not in kind["fields"]:
            kind["fields"].append(item["field"])
        kind["person"] = kind["person"] or item["action"] == "person"
        kind["repaired"] = kind["repaired"] and bool(item.get("repaired_at"))
    found = [kinds[kind] for kind in _kinds({"found": dict.fromkeys(kinds, 1)}) if kind in kinds]
    return {"run_id": run_id, "started_at": items[0].get("run_started_at"), "found": found}
