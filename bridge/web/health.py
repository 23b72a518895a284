"""Liveness, readiness and metrics endpoints for load balancers, orchestrators and Prometheus."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify

from bridge.config import Settings
from bridge.store import Store
from bridge.web.metrics import exposition

bp = Blueprint("health", __name__)

#: How long /readyz waits for the database's write lock: a probe must answer quickly, and a database
#: whose lock stays taken this long would make webhooks wait too.
WRITE_CHECK_MS = 500


@dataclass
class Probes:
    """How /readyz looks at the machine: tests replace `disk_usage` instead of filling a disk."""

    disk_usage: Callable[[Path], Any] = shutil.disk_usage  # anything with a .free in bytes


@bp.record_once
def _install_probes(state) -> None:
    state.app.extensions.setdefault("bridge.probes", Probes())


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers. No database, so a busy or full disk never gets a healthy process killed."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    services = current_app.extensions["bridge"]
    settings, store = services.settings, services.store
    checks: dict[str, str] = {}
    try:
        store.health.ping()
        checks["database"] = "ok"
        pending = store.health.pending_migrations()
        checks["migrations"] = "ok" if not pending else f"pending: {', '.join(pending)}; run `bridge db upgrade`"
        checks["database_write"] = _write_check(store)
        if settings.readiness.worker_stale_seconds:
            checks["worker"] = _worker_check(store, settings.readiness.worker_stale_seconds, services.clock())
    except Exception as error:  # any failure to reach the database means not ready
        checks["database"] = f"unreachable: {error}"
    checks["disk"] = _disk_check(settings, current_app.extensions["bridge.probes"].disk_usage)
    folder = settings.mappings_dir
    readable = folder.is_dir() and os.access(folder, os.R_OK | os.X_OK)
    checks["mappings"] = "ok" if readable else f"folder {folder} is missing or unreadable (BRIDGE_MAPPINGS)"
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


def _write_check(store: Store) -> str:
    try:
        store.health.check_writable(WRITE_CHECK_MS)
    except Exception as error:
        return (f"cannot take a write: {error}. Another process may be holding the database's write lock; "
                "webhooks would answer 503 meanwhile")
    return "ok"


def _worker_check(store: Store, stale_seconds: int, now: datetime) -> str:
    beats = store.health.heartbeats()
    stamped = [at for at, _, _ in beats if at is not None]
    if not stamped:
        return ("no heartbeat yet: no worker has run on this database. `bridge serve` starts one; with "
                "--no-worker or plain gunicorn, run `bridge worker` on the same BRIDGE_DB")
    fresh = [lanes for at, _, lanes in beats if at is not None and (now - at).total_seconds() <= stale_seconds]
    if not fresh:
        age = (now - max(stamped)).total_seconds()
        return (f"last heartbeat {age:.0f} s ago (limit {stale_seconds} s, BRIDGE_WORKER_STALE_SECONDS): the worker "
                "is stopped, stuck or failing every pass, so new events wait; see its log")
    if any(lanes is None for lanes in fresh):  # a worker running every lane
        return "ok"
    run = frozenset().union(*fresh)
    # Lanes a worker ran in the last day that no worker has run lately: their process is stopped or stuck.
    left: dict[str, datetime] = {}
    for at, started, lanes in beats:
        when = at or started  # registered at its start, never beaten since
        if (now - when).total_seconds() > stale_seconds:
            for lane in (lanes or ()) - run:
                left[lane] = max(when, left.get(lane, when))
    if left:
        age = (now - max(left.values())).total_seconds()
        return (f"worker lanes {', '.join(sorted(left))} last beat {age:.0f} s ago (limit {stale_seconds} s, "
                "BRIDGE_WORKER_STALE_SECONDS): the process running them is stopped, stuck or failing every pass, "
                "so their writes wait; see its log")
    return "ok"


def _disk_check(settings: Settings, disk_usage: Callable[[Path], Any]) -> str:
    folder = settings.db_path.resolve().parent
    try:
        free_mb = disk_usage(folder).free // 2**20
    except OSError as error:
        return f"cannot read the free space of {folder}: {error}"
    minimum = settings.readiness.min_free_mb
    if free_mb < minimum:
        return (f"{free_mb} MB free on the disk holding {settings.db_path}, below BRIDGE_MIN_FREE_MB={minimum}: "
                "free some space (or move BRIDGE_DB) before commits start failing")
    return "ok"


@bp.get("/metrics")
def metrics():
    services = current_app.extensions["bridge"]
    body, content_type = exposition(services.store, services.clock())
    return current_app.response_class(body, content_type=content_type)
