"""The webhook endpoints: verify → validate → commit to the inbox → 2xx. Nothing slow happens here."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request

from bridge.clock import utcnow
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
    services = current_app.extensions["bridge"]
    connector = services.settings.connectors.get(source)
    if connector is None:
        known = ", ".join(sorted(services.settings.connectors))
        return jsonify(error=f"unknown webhook source {source!r}; known: {known}"), 404
    problem = connector.webhook_problem()
    if problem:
        webhook_requests.labels(source, "503").inc()
        return jsonify(error=problem, source=source), 503

    delivery = _as_webhook_request()
    received_at = utcnow()
    try:
        connector.verify_webhook(delivery, received_at)
        events = connector.parse_webhook(delivery, received_at)
    except WebhookUnauthorized as error:
        # Logged without the URL: it may carry the token.
        log.warning("%s webhook refused (401) from %s: %s", source, request.remote_addr, error.message)
        return _refuse(source, error)
    except (WebhookInvalid, WebhookForbidden) as error:
        try:
            services.store.add_rejected(source, error.message, delivery.body, request.content_type, received_at)
        except StoreUnavailable:
            log.exception("%s webhook: could not keep the rejected delivery", source)
            return jsonify(error="storage unavailable, retry later"), 503
        log.warning("%s webhook rejected (%d): %s", source, error.status, error.message)
        return _refuse(source, error)

    try:
        new = services.store.add_events(events, received_at)
    except StoreUnavailable:
        log.exception("%s webhook: could not commit %d event(s); answering 503 so the sender retries",
                      source, len(events))
        webhook_requests.labels(source, "503").inc()
        return jsonify(error="storage unavailable, retry later"), 503
    webhook_requests.labels(source, "200").inc()
    webhook_events.labels(source).inc(new)
    reply = connector.acknowledge(events, new)
    return current_app.response_class(reply.body, status=reply.status, content_type=reply.content_type)
