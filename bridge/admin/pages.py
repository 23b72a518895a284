"""The admin pages: login, mapping files (edit, check, preview, save), history and restore, audit log,
leads with their timelines, the SLA clocks, and the outbox's dead letters (replayable)."""

from __future__ import annotations

import json
import logging
import math
from datetime import date, datetime, timedelta, tzinfo
from functools import partial
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException

from bridge.admin.auth import (
    FAILED_LOGIN_WINDOW,
    MAX_FAILED_LOGINS,
    MAX_FAILED_LOGINS_ALL,
    PAGE_ACTOR,
    SESSION_ID,
    SESSION_IDLE,
    SESSION_LIFETIME,
    AdminAccess,
    Login,
    SessionState,
    client_address,
)
from bridge.admin.csrf import csrf_ok, csrf_token
from bridge.admin.editor import (
    Conflict,
    Editor,
    MappingFile,
    NoSample,
    Rejected,
    fingerprint,
    normalise_newlines,
)
from bridge.admin.i18n import Translator, choose_language
from bridge.admin.samples import RecordProblem, load_json
from bridge.kernel.clock import parse_iso
from bridge.sla.calendar import WEEKDAYS_JA
from bridge.sla_report import current_report
from bridge.timeline import lead_summary, timeline, write_view

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static")
log = logging.getLogger(__name__)

PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.static"})
# The admins work in Tokyo; times are stored in UTC and shown in Japan time.
DISPLAY_ZONE = ZoneInfo("Asia/Tokyo")
WEEKDAYS = {"ja": WEEKDAYS_JA, "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}
AUDIT_ROWS = 200
LEADS_PER_PAGE = 50
DEAD_LETTER_ROWS = 200
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _access() -> AdminAccess:
    return current_app.extensions["bridge_admin"]


def _editor() -> Editor:
    services = current_app.extensions["bridge"]
    return Editor(services.settings, services.store, _access().clock, services.connectors)


def _now() -> datetime:
    return _access().clock()


def _shown_time(value: str | None) -> str:
    if not value:
        return ""
    return parse_iso(value).astimezone(DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M:%S JST")


def _shown_day(day: date) -> str:
    """A date with its weekday in the page's language: 2026-11-27 (金)."""
    return f"{day.isoformat()} ({WEEKDAYS[g.t.language][day.weekday()]})"


def _local_time(value: datetime | str | None, zone: tzinfo | str | None = None) -> str:
    """An instant in `zone` (a business calendar's; Japan time when None) with its weekday: 2026-11-27 (金) 17:30 JST.
    Business time turns on the weekday, so the SLA figures show it."""
    if not value:
        return ""
    moment = parse_iso(value) if isinstance(value, str) else value
    local = moment.astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone or DISPLAY_ZONE)
    return f"{_shown_day(local.date())} {local:%H:%M %Z}"


def _shown(value: object, indent: int | None = None) -> str:
    """Values as JSON with Japanese left readable (Jinja's tojson would write every kana as a \\u escape)."""
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


def _page(template: str, status: int = 200, **context: object) -> tuple[str, int]:
    return render_template(f"admin/{template}", **context), status


def _error(status: int, title: str, message: str, **values: object) -> Response:
    t: Translator = g.t
    return current_app.make_response(_page("error.html", status, title=t(title), message=t(message, **values)))


# -- every request -------------------------------------------------------------------------
@bp.before_request
def guard() -> Response | None:
    """Off without a password (503); login first (redirect); a CSRF token on every POST (400)."""
    g.t = Translator(choose_language(request))
    if request.endpoint == "admin.static":
        return None
    access = _access()
    if access.password is None:
        return _error(503, "error.not_configured.title", "error.not_configured")
    if request.endpoint not in PUBLIC_ENDPOINTS and not access.logged_in():
        _say_why_logged_out(access.session_state())
        if request.method == "GET":
            return redirect(url_for(".login", next=request.full_path.rstrip("?")))
        return redirect(url_for(".login"), 303)
    if request.method == "POST" and not csrf_ok(request):
        return _error(400, "error.csrf.title", "error.csrf")
    return None


def _say_why_logged_out(state: SessionState) -> None:
    """Tell the admin why the login form is back: the session expired, it ended, or there was none."""
    t: Translator = g.t
    if state is SessionState.EXPIRED:
        flash(t("flash.session_expired", hours=_hours(SESSION_LIFETIME), idle=_hours(SESSION_IDLE)))
    elif state is SessionState.ENDED:
        flash(t("flash.session_ended"))
    elif request.method == "GET":
        flash(t("flash.login_needed"))
    if state is not SessionState.NONE:
        session.pop(SESSION_ID, None)  # the dead id is not sent again: the next page just asks to log in


def _hours(span: timedelta) -> int:
    return int(span.total_seconds() // 3600)


@bp.after_request
def security_headers(response: Response) -> Response:
    if request.endpoint != "admin.static":
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "no-store"  # pages show mapping texts and the audit log
        response.vary.update(("Accept-Language", "Cookie"))
    return response


@bp.context_processor
def template_helpers() -> dict[str, object]:
    return {"t": g.t, "lang": g.t.language, "csrf_token": csrf_token, "logged_in": _access().logged_in(),
            "shown_time": _shown_time, "shown": _shown, "local_time": _local_time, "shown_day": _shown_day}


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    if not hasattr(g, "t"):
        g.t = Translator(choose_language(request))
    return _error(error.code or 500, "error.http.title", "error.http", code=error.code, name=error.name,
                  description=error.description)


# -- login ---------------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login():
    access, store = _access(), current_app.extensions["bridge"].store
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if access.logged_in():
            return redirect(target)
        return _page("login.html", next=target)
    client = client_address(request)
    minutes = int(FAILED_LOGIN_WINDOW.total_seconds() // 60)
    result = access.try_password(request.form.get("password", ""), client)
    if result in (Login.PAUSED, Login.PAUSED_FOR_ALL):
        # Not audited: an attacker would fill the log; the failures that led here are in it.
        if result is Login.PAUSED:
            log.warning("admin login from %s refused: %d failures within %d minutes", client, MAX_FAILED_LOGINS,
                        minutes)
            response = _error(429, "error.blocked.title", "error.blocked", limit=MAX_FAILED_LOGINS, minutes=minutes)
        else:
            log.warning("admin login from %s refused: %d failures from all addresses within %d minutes", client,
                        MAX_FAILED_LOGINS_ALL, minutes)
            response = _error(429, "error.blocked_all.title", "error.blocked_all", limit=MAX_FAILED_LOGINS_ALL,
                              minutes=minutes)
        response.headers["Retry-After"] = str(int(FAILED_LOGIN_WINDOW.total_seconds()))
        return response
    if result is Login.WRONG:
        store.admin.audit(PAGE_ACTOR, "login_failed", None, f"from {client}", _now())
        message = g.t("login.wrong", limit=MAX_FAILED_LOGINS, minutes=minutes)
        return _page("login.html", 401, next=target, error=message)
    access.start_session(client)
    store.admin.audit(PAGE_ACTOR, "login", None, f"from {client}", _now())
    flash(g.t("flash.logged_in"))
    return redirect(target, 303)


@bp.post("/logout")
def logout():
    """End the session on the server: the cookie, even a copy of it, no longer logs anyone in."""
    store = current_app.extensions["bridge"].store
    _access().end_session()
    store.admin.audit(PAGE_ACTOR, "logout", None, f"from {client_address(request)}", _now())
    flash(g.t("flash.logged_out"))
    return redirect(url_for(".login"), 303)


def _safe_next(value: str | None) -> str:
    """Only a path inside the admin pages: never another site (an open redirect after login)."""
    parts = urlsplit(value or "")
    if value and not parts.scheme and not parts.netloc and parts.path.startswith("/admin/") \
            and "\\" not in value:
        return value
    return url_for(".mappings")


# -- mapping files -------------------------------------------------------------------------
@bp.get("/")
def home():
    return redirect(url_for(".mappings"))


@bp.get("/mappings")
def mappings():
    editor = _editor()
    return _page("list.html", rows=editor.status(), folder=str(editor.folder), read_only=editor.read_only)


def _file_or_404(name: str) -> MappingFile | Response:
    file = _editor().file(name)
    if file is None:
        return _error(404, "error.not_found.title", "error.no_file", name=name)
    return file


def _edit_page(file: MappingFile, text: str, base: str, status: int = 200, **context: object):
    return _page("edit.html", status, file=file, text=text, lines=text.split("\n"), base=base,
                 note=context.pop("note", ""), record=context.pop("record", ""), read_only=_editor().read_only,
                 **context)


@bp.get("/mappings/<name>")
def edit(name: str):
    file = _file_or_404(name)
    if isinstance(file, Response):
        return file
    editor = _editor()
    text = editor.read(file)
    return _edit_page(file, text, fingerprint(text), active=editor.check(file, text),
                      version=editor.latest_version(file))


@bp.post("/mappings/<name>")
def submit(name: str):
    """One form, three buttons: check, preview, save. Errors keep the admin's text on the page."""
    file = _file_or_404(name)
    if isinstance(file, Response):
        return file
    editor, t = _editor(), g.t
    text = normalise_newlines(request.form.get("text", ""))
    base, note = request.form.get("base") or None, request.form.get("note", "").strip()
    record = request.form.get("record", "").strip()
    form = {"note": note, "record": record, "version": editor.latest_version(file)}
    action = request.form.get("action")
    if action == "check":
        checked = editor.check(file, text, live=True)
        return _edit_page(file, text, base or "", 200 if checked.ok else 422, checked=checked, **form)
    if action == "preview":
        try:
            result = editor.preview(file, text, load_json(record) if record else None)
        except Rejected as rejected:
            return _edit_page(file, text, base or "", 422, problems=rejected.problems, **form)
        except RecordProblem as problem:
            return _edit_page(file, text, base or "", 422, record_error=t("preview.bad_record", error=problem),
                              **form)
        except NoSample as missing:
            return _edit_page(file, text, base or "", 422,
                              record_error=t("preview.no_sample", system=missing.system, object=missing.object),
                              **form)
        return _edit_page(file, text, base or "", preview=result, **form)
    if action == "save":
        try:
            saved = editor.save(file, text, PAGE_ACTOR, note=note, base=base)
        except Rejected as rejected:
            return _edit_page(file, text, base or "", 422, problems=rejected.problems, **form)
        except Conflict as conflict:
            form["version"] = conflict.version
            return _edit_page(file, text, fingerprint(conflict.current_text), 409,
                              conflict=t("edit.conflict", version=conflict.version), **form)
        if saved.version is None:
            flash(t("flash.unchanged"))
        else:
            flash(t("flash.saved", version=saved.version))
        return redirect(url_for(".edit", name=file.name), 303)
    return _error(400, "error.http.title", "error.http", code=400, name="Bad Request",
                  description="press Check, Preview or Save")


# -- history -------------------------------------------------------------------------------
@bp.get("/mappings/<name>/history")
def history(name: str):
    file = _file_or_404(name)
    if isinstance(file, Response):
        return file
    editor = _editor()
    store = current_app.extensions["bridge"].store
    versions = store.admin.mapping_versions(file.name)
    active = None
    if versions and editor.version_text(file, versions[0]["version"]) == editor.read(file):
        active = versions[0]["version"]  # else the file changed outside the pages: no version is active
    return _page("history.html", file=file, versions=versions, active=active)


@bp.get("/mappings/<name>/versions/<int:version>")
def version(name: str, version: int):
    file = _file_or_404(name)
    if isinstance(file, Response):
        return file
    row = current_app.extensions["bridge"].store.admin.mapping_version(file.name, version)
    if row is None:
        return _error(404, "error.not_found.title", "error.no_version", file=file.name, version=version)
    return _page("version.html", file=file, row=row)


@bp.post("/mappings/<name>/versions/<int:version>/restore")
def restore(name: str, version: int):
    file = _file_or_404(name)
    if isinstance(file, Response):
        return file
    editor, t = _editor(), g.t
    try:
        saved = editor.restore(file, version, PAGE_ACTOR)
    except LookupError:
        return _error(404, "error.not_found.title", "error.no_version", file=file.name, version=version)
    except Rejected as rejected:
        text = editor.version_text(file, version) or ""
        current = editor.read(file)
        return _edit_page(file, text, fingerprint(current), 422, problems=rejected.problems,
                          restore_error=t("restore.rejected", version=version),
                          version=editor.latest_version(file))
    if saved.version is None:
        flash(t("flash.unchanged"))
    else:
        flash(t("flash.restored", version=version, new=saved.version))
    return redirect(url_for(".history", name=file.name), 303)


# -- audit log -----------------------------------------------------------------------------
@bp.get("/audit")
def audit():
    entries = current_app.extensions["bridge"].store.admin.audit_entries(AUDIT_ROWS)
    return _page("audit.html", entries=entries, limit=AUDIT_ROWS)


# -- leads and their timelines -------------------------------------------------------------
@bp.get("/leads")
def leads():
    """Leads, newest first; filter by handoff, or find one by its email address or HubSpot id."""
    store = current_app.extensions["bridge"].store
    query = request.args.get("q", "").strip()
    handed = request.args.get("handed_off", "")
    handed_off = {"yes": True, "no": False}.get(handed)
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    search_problem = None
    if query:
        if "@" in query:
            row = store.leads.find(email=query)
        elif query.isdecimal():
            row = store.leads.find(hubspot_id=query)
        else:
            row, search_problem = None, "leads.search_help"
        rows, total = ([row] if row is not None else []), int(row is not None)
    else:
        rows = store.leads.list(handed_off, LEADS_PER_PAGE, (page - 1) * LEADS_PER_PAGE)
        total = store.leads.count(handed_off)
    return _page("leads.html", leads=[lead_summary(row) for row in rows], query=query, handed=handed, page=page,
                 pages=max(1, math.ceil(total / LEADS_PER_PAGE)), total=total, search_problem=search_problem)


@bp.get("/leads/<int:lead_id>")
def lead(lead_id: int):
    services = current_app.extensions["bridge"]
    found = timeline(services.store, lead_id, services.activity_types())
    if found is None:
        return _error(404, "error.not_found.title", "error.no_lead", id=lead_id)
    return _page("lead.html", lead=found["lead"], entries=found["entries"], clocks=found["clocks"])


# -- SLA clocks ----------------------------------------------------------------------------
@bp.get("/sla")
def sla():
    """Open SLA clocks by owner (due soon, breached), the clocks recently met, and the compliance rate."""
    return _page("sla.html", report=current_report(current_app.extensions["bridge"]))


# -- dead letters of each queue (the same pages and replay for the inbox and the outbox) -----
def _outbox_rows(store, rows: list[dict]) -> list[dict]:
    by_id = store.leads.by_ids(row["lead_id"] for row in rows)
    return [write_view(row, by_id.get(row["lead_id"], {"id": row["lead_id"]})) for row in rows]


#: Each queue's page: its template, its queue in the store, and how its rows are shown.
QUEUE_PAGES = {
    "outbox": ("outbox.html", lambda store: store.outbox, _outbox_rows),
    "inbox": ("inbox.html", lambda store: store.inbox, lambda store, rows: rows),
}


def _dead_letters(name: str):
    """A queue's items that failed for good, with the reason (and the fields named); each can be replayed."""
    template, queue_of, shown = QUEUE_PAGES[name]
    store = current_app.extensions["bridge"].store
    queue = queue_of(store)
    items = shown(store, queue.items(status="dead", limit=DEAD_LETTER_ROWS))
    return _page(template, items=items, counts=queue.counts(), limit=DEAD_LETTER_ROWS, queue=name)


def _replay(name: str):
    """Queue one dead letter (`id`) or all of them (`all`) again; audit-logged."""
    store, t = current_app.extensions["bridge"].store, g.t
    if request.form.get("all"):
        ids, target = None, f"{name} (all dead letters)"
    else:
        given = request.form.get("id", "")
        if not given.isdecimal():
            return _error(400, "error.http.title", "error.http", code=400, name="Bad Request",
                          description="press Replay next to a dead letter, or Replay all")
        ids, target = [int(given)], f"{name} {given}"
    replayed = QUEUE_PAGES[name][1](store).replay(ids, _now())
    store.admin.audit(PAGE_ACTOR, f"{name}_replay", target, f"{replayed} replayed", _now())
    flash(t("flash.replayed", n=replayed) if replayed else t("flash.nothing_replayed"))
    back = request.form.get("next")
    return redirect(_safe_next(back) if back else url_for(f".{name}"), 303)


for _name in QUEUE_PAGES:
    bp.add_url_rule(f"/{_name}", _name, partial(_dead_letters, _name))
    bp.add_url_rule(f"/{_name}/replay", f"replay_{_name}", partial(_replay, _name), methods=["POST"])
