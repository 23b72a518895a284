"""Admin pages and JSON API for the mapping files: login, edit with checks, preview, history, audit log."""

from __future__ import annotations

from flask import Flask

from bridge.admin import api, pages, reconcile_pages  # noqa: F401 (reconcile_pages adds its routes to pages.bp)
from bridge.admin.auth import SESSION_LIFETIME, AdminAccess, session_secret
from bridge.config import Settings


def init_admin(app: Flask, settings: Settings) -> None:
    """Register the admin blueprints and set up the signed cookie that carries the admin's session id
    (the session itself is a row in the database, so logout revokes it on every worker)."""
    secret = session_secret(settings)
    if secret:
        app.secret_key = secret
    app.config.update(
        SESSION_COOKIE_NAME="bridge_admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not settings.development,  # local development runs on plain http
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    services = app.extensions["bridge"]
    app.extensions["bridge_admin"] = AdminAccess.from_settings(settings, secret, services.store, services.clock)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
