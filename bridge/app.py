"""create_app(): settings, database, blueprints and one JSON error handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from bridge import logs
from bridge.config import Settings, load_settings
from bridge.kernel.clock import utcnow
from bridge.live import LiveMappings
from bridge.store import Store
from bridge.web import activities, health, leads_api, webhooks

MAX_BODY_BYTES = 1024 * 1024  # HubSpot sends at most 100 events, kintone at most 1 MB


@dataclass
class Services:
    """What request handlers need, stored on app.extensions['bridge']."""

    settings: Settings
    store: Store
    #: The one source of "now" for request handlers; tests pass a fixed clock (time is an input).
    clock: Callable[[], datetime] = field(default=utcnow)
    #: The routes and handoff rules in force, loaded at start-up and reloaded when a file changes.
    mappings: LiveMappings | None = None

    def activity_types(self) -> frozenset[str] | None:
        """The activity types the handoff rules in force score or count; None when no rules are loaded."""
        if self.mappings is None:
            return None
        self.mappings.refresh()  # a few stat() calls; the YAML is parsed again only when a file changed
        return self.mappings.rules.activity_types


def configure_logging(level: str, log_format: str = "text") -> None:
    """Every record on one line with control characters escaped (bridge/logs.py), as text or JSON."""
    logs.configure(level, log_format)


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = utcnow) -> Flask:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_format)
    mappings = LiveMappings(settings)  # refuses to start with a broken mapping (MappingError)
    store = Store(settings.db_path, settings.db_busy_timeout_ms)
    store.upgrade()

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    if settings.proxies:
        # Behind N reverse proxies the client is N hops back in X-Forwarded-For: login throttling
        # counts per client, not per proxy. https://werkzeug.palletsprojects.com/en/stable/middleware/proxy_fix/
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxies)
    app.extensions["bridge"] = Services(settings=settings, store=store, clock=clock, mappings=mappings)
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
