"""CSRF protection for the admin forms: a per-session token in a hidden field, checked on every POST."""

from __future__ import annotations

import hmac
import secrets

from flask import Request, session

FIELD = "csrf_token"


def csrf_token() -> str:
    """The session's token, made on first use; templates put it in every form.

    It lives in the signed cookie beside the session id. Login and logout clear the cookie, so each
    session gets its own token and a token from before a login is refused after it.
    """
    token = session.get(FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[FIELD] = token
    return token


def csrf_ok(request: Request) -> bool:
    """True when the form carries the session's token (a cross-site form cannot read it)."""
    expected = session.get(FIELD)
    given = request.form.get(FIELD, "")
    return isinstance(expected, str) and bool(given) and hmac.compare_digest(given.encode(), expected.encode())
