"""Bearer tokens of the service's own JSON APIs: one token per API (activities, leads, admin), never shared."""

from __future__ import annotations

import hmac

from flask import Response, jsonify, request

from bridge.config import API_TOKENS, Settings


def unauthorized(api: str) -> str:
    """What a caller of `api` is told when the header is missing or wrong (never which part was wrong)."""
    return f"missing or wrong `Authorization: Bearer <{API_TOKENS[api]}>` header"


def bearer_ok(header: str | None, api_token: str | None) -> bool:
    """True when `header` is exactly `Bearer <api_token>`; always False while no token is configured."""
    if not api_token or not header:
        return False
    return hmac.compare_digest(header.encode(), f"Bearer {api_token}".encode())


def refuse_without_token(api: str, settings: Settings) -> tuple[Response, int] | None:
    """The JSON refusal for a request to `api` without its own bearer token, or None to let it in.

    Only the token of `api` opens it: the activities token (carried by a website tag) is refused here by
    the leads and admin APIs, and the other way round.
    """
    token = settings.api_tokens.get(api)
    if not token:
        return jsonify(error=f"the {api} API is off: set {API_TOKENS[api]} (at least 16 characters, a value no "
                             "other setting holds) and restart"), 503
    if not bearer_ok(request.headers.get("Authorization"), token):
        response = jsonify(error=unauthorized(api))
        response.headers["WWW-Authenticate"] = 'Bearer realm="bridge"'
        return response, 401
    return None
