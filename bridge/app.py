"""create_app(): settings, database, blueprints and one JSON error handler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from bridge import activities, health, leads_api, webhooks
from bridge.clock import utcnow
from bridge.config import Settings, load_settings
from bridge.handoff.load import load_rules
from bridge.handoff.rules import Rules
from bridge.mapping import Route, load_routes
from bridge.store import Store

MAX_BODY_BYTES = 1024 * 1024  # HubSpot sends at most 100 events, kintone at most 1 MB


@dataclass
class Services:
    """What request handlers need, stored on app.extensions['bridge']."""

    settings: Settings
    store: Store
    #: The one source of "now" for request handlers; tests pass a fixed clock (time is an input).
    clock: Callable[[], datetime] = field(default=utcnow)


def load_mappings(settings: Settings) -> tuple[dict[str, Route], Rules]:
    """The field mappings and handoff rules; raise MappingError listing every problem (start-up refuses)."""
    return load_routes(settings.mappings_dir, settings.env), load_rules(settings.mappings_dir)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = utcnow) -> Flask:
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    load_mappings(settings)  # refuse to start with a broken mapping; the worker keeps them current (LiveMappings)
    store = Store(settings.db_path, settings.db_busy_timeout_ms)
    store.upgrade()

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    if settings.proxies:
        # Behind N reverse proxies the client is N hops back in X-Forwarded-For: login throttling
        # counts per client, not per proxy. https://werkzeug.palletsprojects.com/en/stable/middleware/proxy_fix/
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxies)
    app.extensions["bridge"] = Services(settings=settings, store=store, clock=clock)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(activities.bp)
    app.register_blueprint(leads_api.bp)
    from bridge.admin import init_admin  # admin pages + API, and the session cookie they use
    init_admin(app, settings)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        message = error.description
        if error.code == 413:
            message = f"body is larger than {MAX_BODY_BYTES} bytes"
        return jsonify(error=message), error.code

    return app
