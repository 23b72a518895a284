"""GET /api/leads, /api/leads/<id> (the timeline), /api/outbox and POST /api/outbox/replay, behind
their own bearer token BRIDGE_LEADS_TOKEN (lead data: not the activities or admin token)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from bridge.admin.auth import api_actor
from bridge.store import STATUSES, Store
from bridge.timeline import lead_summary, timeline, write_view
from bridge.web.api_auth import refuse_without_token

bp = Blueprint("leads_api", __name__, url_prefix="/api")

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
MAX_REPLAY_IDS = 1000
LEAD_PARAMS = ("email", "hubspot_id", "handed_off", "limit", "offset")
OUTBOX_PARAMS = ("status", "limit")


class BadRequest(Exception):
    """A query or body the API cannot use; the message says what to send instead."""


def _store() -> Store:
    return current_app.extensions["bridge"].store


def _fail(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message), status


@bp.before_request
def require_token() -> tuple[Response, int] | None:
    return refuse_without_token("leads", current_app.extensions["bridge"].settings)


@bp.errorhandler(BadRequest)
def bad_request(error: BadRequest) -> tuple[Response, int]:
    return _fail(400, str(error))


# -- query parameters ----------------------------------------------------------------------------
def _only(allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown parameter(s) {', '.join(unknown)}; use {', '.join(allowed)}")


def _whole(name: str, default: int, low: int, high: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return value


def _flag(name: str) -> bool | None:
    text = request.args.get(name)
    if text is None or text == "":
        return None
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise BadRequest(f"{name} must be true or false, not {text!r}")


# -- leads ---------------------------------------------------------------------------------------
@bp.get("/leads")
def list_leads():
    """Leads, newest first; ?email= or ?hubspot_id= finds one lead (a list of zero or one)."""
    _only(LEAD_PARAMS)
    email, hubspot_id = request.args.get("email", "").strip(), request.args.get("hubspot_id", "").strip()
    handed_off = _flag("handed_off")
    limit, offset = _whole("limit", DEFAULT_LIMIT, 1, MAX_LIMIT), _whole("offset", 0, 0, 10**9)
    store = _store()
    if email and hubspot_id:
        raise BadRequest("give email or hubspot_id, not both")
    if email or hubspot_id:
        row = store.leads.find(email=email or None, hubspot_id=hubspot_id or None)
        rows = [row] if row is not None and (handed_off is None
                                             or (row["handed_off_at"] is not None) == handed_off) else []
        return jsonify(leads=[lead_summary(r) for r in rows], total=len(rows), limit=limit, offset=0)
    rows = store.leads.list(handed_off=handed_off, limit=limit, offset=offset)
    return jsonify(leads=[lead_summary(r) for r in rows], total=store.leads.count(handed_off), limit=limit,
                   offset=offset)


@bp.get("/leads/<lead_id>")
def get_lead(lead_id: str):
    """The lead and its timeline: events received, activities, decisions explained, writes made."""
    known_types = current_app.extensions["bridge"].activity_types()
    found = timeline(_store(), int(lead_id), known_types) if lead_id.isdecimal() and len(lead_id) < 19 else None
    if found is None:
        return _fail(404, f"no lead with id {lead_id!r}; find a lead's id with GET /api/leads?email=… "
                          "or ?hubspot_id=…")
    return jsonify(found)


# -- outbox --------------------------------------------------------------------------------------
@bp.get("/outbox")
def list_outbox():
    """Outbox items, newest first, with their lead; ?status=dead lists the dead letters."""
    _only(OUTBOX_PARAMS)
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    limit = _whole("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    store = _store()
    rows = store.outbox.items(status=status, limit=limit)
    leads = store.leads.by_ids(row["lead_id"] for row in rows)
    return jsonify(items=[write_view(row, leads.get(row["lead_id"], {"id": row["lead_id"]})) for row in rows],
                   counts=store.outbox.counts())


def _replay_ids(data: Any) -> list[int] | None:
    """The ids to replay from {"ids": [..]}, or None (every dead letter) for {"all": true}."""
    example = 'send {"ids": [12, 13]} or {"all": true} (Content-Type: application/json)'
    if not isinstance(data, dict):
        raise BadRequest(f"the body is not a JSON object; {example}")
    unknown = sorted(set(data) - {"ids", "all"})
    if unknown:
        raise BadRequest(f"unknown key(s) {', '.join(unknown)}; {example}")
    if "ids" in data and "all" in data:
        raise BadRequest(f'give "ids" or "all", not both; {example}')
    if "all" in data:
        if data["all"] is not True:
            raise BadRequest(f'"all" must be true; {example}')
        return None
    ids = data.get("ids")
    if not isinstance(ids, list) or not ids:
        raise BadRequest(f'"ids" must be a non-empty list of outbox item ids; {example}')
    if len(ids) > MAX_REPLAY_IDS:
        raise BadRequest(f'"ids" holds {len(ids)} ids; send at most {MAX_REPLAY_IDS}, or {{"all": true}}')
    bad = [i for i in ids if not isinstance(i, int) or isinstance(i, bool) or i < 1]
    if bad:
        raise BadRequest(f'"ids" must be whole numbers (outbox item ids); not {", ".join(map(repr, bad[:5]))}')
    return ids


@bp.post("/outbox/replay")
def replay_outbox():
    """Queue dead letters again (after the mapping or the data was fixed); answers how many were."""
    data = request.get_json(silent=True) if request.mimetype == "application/json" else None
    ids = _replay_ids(data)
    store, now = _store(), current_app.extensions["bridge"].clock()
    replayed = store.outbox.replay(ids, now)
    target = "outbox (all dead letters)" if ids is None else f"outbox {', '.join(map(str, ids[:20]))}" \
        + (" …" if len(ids) > 20 else "")
    store.admin.audit(api_actor(request), "outbox_replay", target, f"{replayed} replayed", now)
    return jsonify(replayed=replayed)
