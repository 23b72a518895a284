"""The webhook endpoints: verify → validate → commit to the inbox → 2xx. Nothing slow happens here."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, current_app, jsonify, request

from bridge.kernel.errors import StoreUnavailable, WebhookError, WebhookForbidden, WebhookInvalid, WebhookUnauthorized
from bridge.web.bodies import read_body
from bridge.web.metrics import webhook_events, webhook_requests
from connectors.base import WebhookRequest

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)


def _as_webhook_request() -> WebhookRequest:
    # The URL exactly as sent (HubSpot signs it); gunicorn gives RAW_URI, other servers REQUEST_URI.
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path.rstrip("?")
    return WebhookRequest(
        method=request.method,
        url=f"{request.scheme}://{request.host}{raw}",
        headers=request.headers,
        query=request.args.to_dict(),
        body=read_body(),
    )


def _refuse(source: str, error: WebhookError):
    webhook_requests.labels(source, str(error.status)).inc()
    return jsonify(error=error.message, source=source), error.status


def _unauthorized(source: str, error: WebhookUnauthorized):
    # Logged without the URL: it may carry the token.
    log.warning("%s delivery refused (401) from %s: %s", source, request.remote_addr, error.message)
    return _refuse(source, error)


def _reject(source: str, error: WebhookError, delivery: WebhookRequest, received_at: datetime):
    """Refuse an authentic delivery (400, 403) and keep its raw body in `rejected`; 503 if it cannot be kept."""
    try:
        services = current_app.extensions["bridge"]
        budget = services.settings.retention.rejected_max_mb * 2**20
        services.store.ingest.add_rejected(source, error.message, delivery.body, request.content_type, received_at,
                                           budget)
    except StoreUnavailable:
        log.exception("%s delivery: could not keep the rejected body", source)
        return jsonify(error="storage unavailable, retry later"), 503
    log.warning("%s delivery rejected (%d): %s", source, error.status, error.message)
    return _refuse(source, error)


@bp.post("/webhooks/<source>")
def receive(source: str):
    connectors = current_app.extensions["bridge"].connectors
    connector = connectors.get(source)
    if connector is None:
        return jsonify(error=f"unknown webhook source {source!r}; known: {', '.join(sorted(connectors))}"), 404
    return ingest(source, connector)


def ingest(source: str, sender):
    """Verify, validate and commit one delivery for `sender` (a connector, or the activities API)."""
    services = current_app.extensions["bridge"]
    store = services.store
    problem = sender.webhook_problem()
    if problem:
        webhook_requests.labels(source, "503").inc()
        return jsonify(error=problem, source=source), 503

    delivery = _as_webhook_request()
    received_at = services.clock()
    try:
        sender.verify_webhook(delivery, received_at)
    except WebhookUnauthorized as error:
        return _unauthorized(source, error)
    except Exception as error:  # a bug in verifying must not hand an unauthenticated sender a 500 and a traceback
        log.warning("%s delivery refused (401): could not be verified (%s)", source, type(error).__name__)
        return _unauthorized(source, WebhookUnauthorized("the delivery could not be verified"))
    try:
        events = sender.parse_webhook(delivery, received_at)
    except WebhookUnauthorized as error:  # Salesforce: the organisation id is inside the body
        return _unauthorized(source, error)
    except (WebhookInvalid, WebhookForbidden) as error:
        return _reject(source, error, delivery, received_at)
    except Exception as error:
        # The last line of defence: the sender is authentic, so whatever its delivery holds is a 400 with the
        # body kept for a person to look at, never a 500 that it would retry for a day.
        log.exception("%s delivery: parsing failed unexpectedly; refusing it with 400 and keeping the body", source)
        problem = WebhookInvalid("body", f"could not be read ({type(error).__name__}); it is kept for inspection")
        return _reject(source, problem, delivery, received_at)

    try:
        new = store.ingest.add_events(events, received_at)
    except Exception:  # StoreUnavailable, or anything else: not committed, so never a 2xx
        log.exception("%s delivery: could not commit %d event(s); answering 503 so the sender retries",
                      source, len(events))
        webhook_requests.labels(source, "503").inc()
        return jsonify(error="storage unavailable, retry later"), 503
    webhook_requests.labels(source, "200").inc()
    webhook_events.labels(source).inc(new)
    reply = sender.acknowledge(events, new)
    return current_app.response_class(reply.body, status=reply.status, content_type=reply.content_type)
