"""Bearer-token check shared by the service's own JSON APIs (/api/activities, /api/leads, /api/outbox)."""

from __future__ import annotations

import hmac

from flask import Response, jsonify, request

#: What a caller is told when the header is missing or wrong (never which part was wrong).
UNAUTHORIZED = "missing or wrong `Authorization: Bearer <BRIDGE_API_TOKEN>` header"


def bearer_ok(header: str | None, api_token: str | None) -> bool:
    """True when `header` is exactly `Bearer <api_token>`; always False while no token is configured."""
    if not api_token or not header:
        return False
    return hmac.compare_digest(header.encode(), f"Bearer {api_token}".encode())


def refuse_without_token(api: str, api_token: str | None) -> tuple[Response, int] | None:
    """The JSON refusal for a request to `api` without the right bearer token, or None to let it in."""
    if not api_token:
        return jsonify(error=f"the {api} API is off: set BRIDGE_API_TOKEN (at least 16 characters) and restart"), 503
    if not bearer_ok(request.headers.get("Authorization"), api_token):
        response = jsonify(error=UNAUTHORIZED)
        response.headers["WWW-Authenticate"] = 'Bearer realm="bridge"'
        return response, 401
    return None
