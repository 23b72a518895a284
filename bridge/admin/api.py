"""The admin JSON API under /api/admin: the admin pages' actions for scripts, behind BRIDGE_ADMIN_TOKEN."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from bridge.admin.auth import AdminAccess, api_actor
from bridge.admin.editor import (
    Checked,
    Conflict,
    Editor,
    FeedbackPreview,
    FileStatus,
    HandoffPreview,
    MappingFile,
    NoSample,
    Rejected,
    SlaPreview,
    fingerprint,
    normalise_newlines,
)
from bridge.admin.samples import RecordProblem
from bridge.mapping.model import TO_TARGET
from bridge.mapping.problems import Problem
from bridge.web.api_auth import refuse_without_token
from bridge.web.bodies import read_body

bp = Blueprint("admin_api", __name__, url_prefix="/api/admin")

AUDIT_DEFAULT, AUDIT_MAX = 100, 1000
TEXT_TYPES = ("text/plain", "text/yaml", "application/yaml", "application/x-yaml")


class BadRequest(Exception):
    """A request body the API cannot use; the message says what to send instead."""


class NotFound(Exception):
    """An unknown file or version; the message lists what exists."""


def _access() -> AdminAccess:
    return current_app.extensions["bridge_admin"]


def _editor() -> Editor:
    services = current_app.extensions["bridge"]
    return Editor(services.settings, services.store, _access().clock, services.connectors)


def _fail(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify(error=message, **extra), status


@bp.before_request
def require_token() -> tuple[Response, int] | None:
    return refuse_without_token("admin", current_app.extensions["bridge"].settings)


@bp.errorhandler(BadRequest)
def bad_request(error: BadRequest) -> tuple[Response, int]:
    return _fail(400, str(error))


@bp.errorhandler(NotFound)
def not_found(error: NotFound) -> tuple[Response, int]:
    return _fail(404, str(error))


# -- shapes --------------------------------------------------------------------------------
def _problem(problem: Problem) -> dict[str, Any]:
    return {"file": problem.file, "line": problem.line, "where": problem.where, "message": problem.message,
            "display": str(problem)}


def _checked(checked: Checked) -> dict[str, Any]:
    return {"ok": checked.ok, "errors": [_problem(p) for p in checked.errors],
            "warnings": [_problem(p) for p in checked.warnings], "notes": checked.notes}


def _status(row: FileStatus) -> dict[str, Any]:
    return {"file": row.file.name, "kind": row.file.kind, "enabled": row.enabled, "description": row.description,
            **_checked(row.checked), "versions": row.versions,
            "last_saved": {"version": row.last["version"], "author": row.last["author"],
                           "at": row.last["created_at"]} if row.last else None}


def _file(name: str) -> MappingFile:
    editor = _editor()
    file = editor.file(name)
    if file is None:
        known = ", ".join(f.name for f in editor.files()) or "none"
        raise NotFound(f"no mapping file named {name!r}; files: {known}")
    return file


def _body() -> dict[str, Any]:
    """JSON {"text": …, …}, or the raw YAML text with a text/yaml or text/plain content type; 413 past 1 MiB,
    with or without Content-Length (a chunked body cut at the limit could be saved as a shorter, valid file)."""
    body = read_body()
    if request.mimetype in TEXT_TYPES:
        try:
            return {"text": body.decode("utf-8")}
        except UnicodeDecodeError:
            raise BadRequest("the body is not UTF-8 text; save the file as UTF-8") from None
    data = request.get_json(silent=True) if request.mimetype == "application/json" else None
    if not isinstance(data, dict):
        raise BadRequest('send a JSON object such as {"text": "<the whole YAML file>"} '
                         "(Content-Type: application/json), or the YAML itself as text/yaml")
    return data


def _text(data: dict[str, Any], required: bool = True) -> str | None:
    text = data.get("text")
    if text is None and not required:
        return None
    if not isinstance(text, str):
        raise BadRequest('"text" must be the whole file as one string')
    return text


# -- routes --------------------------------------------------------------------------------
@bp.get("/mappings")
def list_files():
    return jsonify(files=[_status(row) for row in _editor().status()])


@bp.get("/mappings/<name>")
def get_file(name: str):
    file, editor = _file(name), _editor()
    text = editor.read(file)
    return jsonify(file=file.name, kind=file.kind, text=text, sha256=fingerprint(text),
                   version=editor.latest_version(file), **_checked(editor.check(file, text)))


@bp.put("/mappings/<name>")
def put_file(name: str):
    file, data = _file(name), _body()
    text = _text(data)
    assert text is not None
    note, base = data.get("note"), data.get("base_sha256")
    if note is not None and not isinstance(note, str) or base is not None and not isinstance(base, str):
        raise BadRequest('"note" and "base_sha256" must be strings when given')
    try:
        saved = _editor().save(file, text, api_actor(request), note=note, base=base)
    except Rejected as rejected:
        return _fail(422, f"{file.name} was not saved: {len(rejected.problems)} problem(s); "
                          "the active version is unchanged", problems=[_problem(p) for p in rejected.problems])
    except Conflict as conflict:
        return _fail(409, f"{file.name} changed since base_sha256 was read (now version {conflict.version}); "
                          "GET it again, merge, and PUT with the new sha256",
                     sha256=fingerprint(conflict.current_text), version=conflict.version)
    return jsonify(file=file.name, saved=saved.version is not None, version=saved.version,
                   sha256=fingerprint(normalise_newlines(text)),
                   warnings=[_problem(p) for p in saved.checked.warnings], notes=saved.checked.notes)


@bp.post("/mappings/<name>/check")
def check_file(name: str):
    file, data = _file(name), _body()
    return jsonify(file=file.name, **_checked(_editor().check(file, _text(data) or "", live=True)))


@bp.post("/mappings/<name>/preview")
def preview_file(name: str):
    file, editor = _file(name), _editor()
    data = _body() if read_body() else {}
    text = _text(data, required=False)
    direction = data.get("direction", TO_TARGET)
    try:
        result = editor.preview(file, editor.read(file) if text is None else text, data.get("record"),
                                direction)
    except Rejected as rejected:
        return _fail(422, f"{file.name} has {len(rejected.problems)} problem(s); fix them to preview",
                     problems=[_problem(p) for p in rejected.problems])
    except RecordProblem as problem:
        raise BadRequest(f"record: {problem}") from None
    except NoSample as missing:
        raise BadRequest(f"no built-in sample for {missing.system} {missing.object}; "
                         'send {"record": {…}}') from None
    if isinstance(result, SlaPreview):
        return jsonify(file=file.name, kind=file.kind, sample=result.sample, **_sla_preview(result))
    if isinstance(result, FeedbackPreview):
        cases = [{"label": r.case.label, "system": r.case.system, "object": r.case.object,
                  "events": [{**asdict(e), "occurred_at": e.occurred_at.isoformat(), "reason_known": e.reason_known}
                             for e in r.events],
                  "hubspot": {**r.told.properties, **({"lifecyclestage": r.told.lifecycle} if r.told.lifecycle
                                                     else {})},
                  "lifecycle_backward": r.told.backward} for r in result.results]
        return jsonify(file=file.name, kind=file.kind, sample=result.sample, changes=cases)
    if isinstance(result, HandoffPreview):
        leads = [{"label": r.lead.label, "lead": r.lead.lead,
                  "activities": [{"type": a.type, "occurred_at": a.occurred_at.isoformat()}
                                 for a in r.lead.activities],
                  "decision": asdict(r.decision), "summary": r.decision.summary()} for r in result.results]
        return jsonify(file=file.name, kind=file.kind, sample=result.sample, leads=leads)
    return jsonify(file=file.name, kind=file.kind, sample=result.sample, route=result.route.summary(),
                   preview=result.preview.to_dict())


def _sla_preview(result: SlaPreview) -> dict[str, Any]:
    """Times in the calendar's zone (ISO 8601 with its offset), durations as sla.yaml words them."""
    handoffs = [{"label": r.handoff.label, "handed_off_at": r.handoff.at.isoformat(), "starts": r.starts.isoformat(),
                 "policies": [{"name": p.policy.name, "segment": p.policy.segment, "value": p.policy.value,
                               "first_touch": asdict(p.policy.first_touch), "deadline": p.deadline.isoformat(),
                               "reminders": [{"before": asdict(reminder.before), "to": list(reminder.to),
                                              "at": at.isoformat()} for reminder, at in p.reminders]}
                              for p in r.policies]} for r in result.results]
    return {"zone": result.zone, "handoffs": handoffs,
            "closed_days": {"year": result.year, "weekends": False,
                            "days": [{"date": day.isoformat(), "reason": reason} for day, reason in result.closed]}}


@bp.get("/mappings/<name>/versions")
def list_versions(name: str):
    file = _file(name)
    versions = current_app.extensions["bridge"].store.admin.mapping_versions(file.name)
    return jsonify(file=file.name, versions=versions)


@bp.get("/mappings/<name>/versions/<int:version>")
def get_version(name: str, version: int):
    file = _file(name)
    row = current_app.extensions["bridge"].store.admin.mapping_version(file.name, version)
    if row is None:
        raise NotFound(f"{file.name} has no version {version}; GET …/versions lists them")
    return jsonify({key: row[key] for key in ("file", "version", "text", "diff", "author", "created_at", "note")})


@bp.post("/mappings/<name>/versions/<int:version>/restore")
def restore_version(name: str, version: int):
    file = _file(name)
    try:
        saved = _editor().restore(file, version, api_actor(request))
    except LookupError:
        raise NotFound(f"{file.name} has no version {version}; GET …/versions lists them") from None
    except Rejected as rejected:
        return _fail(422, f"version {version} of {file.name} no longer passes the checks and was not restored; "
                          "the active version is unchanged", problems=[_problem(p) for p in rejected.problems])
    return jsonify(file=file.name, restored=version, saved=saved.version is not None, version=saved.version)


@bp.get("/audit")
def audit():
    try:
        limit = int(request.args.get("limit", AUDIT_DEFAULT))
    except ValueError:
        raise BadRequest(f"limit must be a whole number from 1 to {AUDIT_MAX}") from None
    if not 1 <= limit <= AUDIT_MAX:
        raise BadRequest(f"limit must be a whole number from 1 to {AUDIT_MAX}")
    return jsonify(entries=current_app.extensions["bridge"].store.admin.audit_entries(limit))
