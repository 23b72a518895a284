"""create_app(): settings → services → blueprints, and one JSON error handler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from bridge import logs
from bridge.admin import init_admin
from bridge.config import Settings, load_settings
from bridge.kernel.clock import utcnow
from bridge.services import build_services
from bridge.web import activities, bodies, health, leads_api, sla_api, webhooks
from connectors.base import Connector

MAX_BODY_BYTES = 1024 * 1024  # HubSpot sends at most 100 events, kintone at most 1 MB


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = utcnow,
               connectors: Mapping[str, Connector] | None = None) -> Flask:
    settings = settings or load_settings()
    logs.configure(settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    if settings.proxies:
        # Behind N reverse proxies the client is N hops back in X-Forwarded-For: login throttling
        # counts per client, not per proxy. https://werkzeug.palletsprojects.com/en/stable/middleware/proxy_fix/
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxies)
    app.extensions["bridge"] = build_services(settings, clock, connectors)
    app.before_request(bodies.refuse_oversized_body)  # first: every route, the admin forms included, reads it whole
    for blueprint in (webhooks.bp, health.bp, activities.bp, leads_api.bp, sla_api.bp):
        app.register_blueprint(blueprint)
    init_admin(app, settings)  # admin pages + API, and the session cookie they use

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        message = f"body is larger than {MAX_BODY_BYTES} bytes" if error.code == 413 else error.description
        return jsonify(error=message), error.code

    return app
