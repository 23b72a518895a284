"""Liveness, readiness and metrics endpoints for load balancers, orchestrators and Prometheus."""

import os

from flask import Blueprint, current_app, jsonify

from bridge.metrics import exposition

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    services = current_app.extensions["bridge"]
    checks: dict[str, str] = {}
    try:
        services.store.ping()
        checks["database"] = "ok"
        pending = services.store.pending_migrations()
        checks["migrations"] = "ok" if not pending else f"pending: {', '.join(pending)}; run `bridge db upgrade`"
    except Exception as error:  # any failure to reach the database means not ready
        checks["database"] = f"unreachable: {error}"
    folder = services.settings.mappings_dir
    readable = folder.is_dir() and os.access(folder, os.R_OK | os.X_OK)
    checks["mappings"] = "ok" if readable else f"folder {folder} is missing or unreadable (BRIDGE_MAPPINGS)"
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


@bp.get("/metrics")
def metrics():
    body, content_type = exposition(current_app.extensions["bridge"].store)
    return current_app.response_class(body, content_type=content_type)
