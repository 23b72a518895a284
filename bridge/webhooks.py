"""The webhook endpoints: verify → validate → commit to the inbox → 2xx. Nothing slow happens here."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request

from bridge.errors import StoreUnavailable, WebhookError, WebhookForbidden, WebhookInvalid, WebhookUnauthorized
from bridge.metrics import webhook_events, webhook_requests
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
        body=request.get_data(cache=True),
    )


def _refuse(source: str, error: WebhookError):
    webhook_requests.labels(source, str(error.status)).inc()
    return jsonify(error=error.message, source=source), error.status


@bp.post("/webhooks/<source>")
def receive(source: str):
    connectors = current_app.extensions["bridge"].settings.connectors
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
        events = sender.parse_webhook(delivery, received_at)
    except WebhookUnauthorized as error:
        # Logged without the URL: it may carry the token.
        log.warning("%s delivery refused (401) from %s: %s", source, request.remote_addr, error.message)
        return _refuse(source, error)
    except (WebhookInvalid, WebhookForbidden) as error:
        try:
            store.add_rejected(source, error.message, delivery.body, request.content_type, received_at)
        except StoreUnavailable:
            log.exception("%s delivery: could not keep the rejected body", source)
            return jsonify(error="storage unavailable, retry later"), 503
        log.warning("%s delivery rejected (%d): %s", source, error.status, error.message)
        return _refuse(source, error)

    try:
        new = store.add_events(events, received_at)
    except StoreUnavailable:
        log.exception("%s delivery: could not commit %d event(s); answering 503 so the sender retries",
                      source, len(events))
        webhook_requests.labels(source, "503").inc()
        return jsonify(error="storage unavailable, retry later"), 503
    webhook_requests.labels(source, "200").inc()
    webhook_events.labels(source).inc(new)
    reply = sender.acknowledge(events, new)
    return current_app.response_class(reply.body, status=reply.status, content_type=reply.content_type)
