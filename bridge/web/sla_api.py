"""GET /api/sla: the SLA page as JSON (open clocks by owner, due soon, breached, recently met, compliance), behind
the leads API's bearer token BRIDGE_LEADS_TOKEN (it names leads and their owners)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from bridge.sla_report import MAX_LISTED, current_report
from bridge.web.api_auth import refuse_without_token

bp = Blueprint("sla_api", __name__, url_prefix="/api")

MAX_LIMIT = 1000


@bp.before_request
def require_token() -> tuple[Response, int] | None:
    return refuse_without_token("leads", current_app.extensions["bridge"].settings)


@bp.get("/sla")
def sla():
    """?limit=1…1000 rows per list (200); the counts and the owners' figures always cover every clock."""
    unknown = sorted(set(request.args) - {"limit"})
    if unknown:
        return jsonify(error=f"unknown parameter(s) {', '.join(unknown)}; use limit"), 400
    text = request.args.get("limit", str(MAX_LISTED))
    if not text.isdecimal() or not 1 <= int(text) <= MAX_LIMIT:
        return jsonify(error=f"limit must be a whole number from 1 to {MAX_LIMIT}, not {text!r}"), 400
    return jsonify(current_report(current_app.extensions["bridge"], int(text)))
