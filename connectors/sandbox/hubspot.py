"""The HubSpot simulator's HTTP surface: OAuth token, bearer auth, rate limits, contacts API."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from bridge.kernel.clock import iso
from connectors.sandbox.config import DeliveryConfig, HubSpotConfig
from connectors.sandbox.controls import Failure, FailurePlan, RollingLimit
from connectors.sandbox.delivery import DeliveryLog
from connectors.sandbox.hubspot_schema import ContactSchema
from connectors.sandbox.hubspot_search import Results, search
from connectors.sandbox.hubspot_store import MAX_BATCH, ContactStore, HubSpotError
from connectors.sandbox.hubspot_webhooks import HubSpotWebhooks

PREFIX = "/hubspot"
CONTACTS = "/crm/v3/objects/contacts"
# https://github.com/HubSpot/hubspot-api-nodejs/issues/148 (the body HubSpot sends for a bad token)
NO_CREDENTIALS = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
# https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines
TEN_SECONDS_MS = 10_000


def error_response(status: int, category: str, message: str, **extra: Any) -> Response:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    response = jsonify({**body, **{k: v for k, v in extra.items() if v is not None}})
    response.status_code = status
    return response


def _rate_limited(policy: str, message: str) -> Response:
    response = jsonify(
        {
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "requestId": str(uuid.uuid4()),
        }
    )
    response.status_code = 429
    return response


def _batch_body(results: list[dict], errors: list[dict], started: datetime) -> tuple[Response, int]:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso(started),
        "completedAt": iso(started),
    }
    if errors:
        body.update(numErrors=len(errors), errors=errors)
    return jsonify(body), 207 if errors else 200


class HubSpotSim:
    def __init__(
        self,
        config: HubSpotConfig,
        clock: Callable[[], datetime],
        failures: FailurePlan,
        delivery: DeliveryConfig,
        log: DeliveryLog,
    ) -> None:
        self.config = config
        self._clock = clock
        self._failures = failures
        self.schema = ContactSchema(config.custom_properties)
        self.webhooks = HubSpotWebhooks(config, delivery, log)
        self.store = ContactStore(self.schema, clock, self.webhooks.on_changes)
        self.results = Results()
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # issued OAuth access token -> expiry (epoch seconds)
        self._burst = RollingLimit(10.0)
        self._search_limit = RollingLimit(1.0)
        self._daily: tuple[str, int] = ("", 0)

    def reset(self) -> None:
        self.store.reset()
        self.results.clear()
        self.webhooks.dispatcher.clear()
        with self._lock:
            self._tokens.clear()
            self._daily = ("", 0)
        self._burst.reset()
        self._search_limit.reset()

    def expire_tokens(self) -> int:
        """Expire every issued OAuth token: calls with one get 401 EXPIRED_AUTHENTICATION."""
        now = self._clock().timestamp()
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = min(self._tokens[token], now - 1)
            return len(self._tokens)

    # -- guards -----------------------------------------------------------------------------------

    def _guard(self) -> Response | None:
        failure = self._failures.take(request.endpoint or "", request.environ)
        if failure:
            return self._injected(failure)
        if request.endpoint == "hubspot.token":
            return None
        denied, oauth = self._authenticate()
        if denied:
            return denied
        return self._limit(oauth)

    def _injected(self, failure: Failure) -> Response:
        time.sleep(failure.delay)
        if failure.status == 429:
            response = _rate_limited(
                "TEN_SECONDLY_ROLLING",
                failure.message or "You have reached your ten_secondly_rolling limit.",
            )
        else:
            response = error_response(
                failure.status,
                failure.code or "INTERNAL_ERROR",
                failure.message or "Injected failure (sandbox)",
            )
        if failure.retry_after is not None:
            response.headers["Retry-After"] = str(failure.retry_after)
        return response

    def _authenticate(self) -> tuple[Response | None, bool]:
        """(refusal or None, whether the caller used an OAuth token)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return error_response(401, "INVALID_AUTHENTICATION", NO_CREDENTIALS), False
        if secrets.compare_digest(token, self.config.private_app_token):
            return None, False
        with self._lock:
            expiry = self._tokens.get(token)
        if expiry is None:
            return error_response(401, "INVALID_AUTHENTICATION", NO_CREDENTIALS), True
        overdue = int(self._clock().timestamp() - expiry)
        if overdue >= 0:
            return error_response(
                401,
                "EXPIRED_AUTHENTICATION",
                f"The OAuth token used to make this call expired {overdue} second(s) ago.",
            ), True
        return None, True

    def _limit(self, oauth: bool) -> Response | None:
        now = self._clock().timestamp()
        if request.endpoint == "hubspot.search":
            # Search has its own per-second limit, outside the 10-second bucket and its headers.
            if not self._search_limit.hit(now, self.config.search_rate_limit)[0]:
                return _rate_limited("SECONDLY", "You have reached your secondly limit.")
        else:
            allowed, remaining = self._burst.hit(now, self.config.rate_limit)
            g.hubspot_burst = (self.config.rate_limit, remaining)
            if not allowed:
                return _rate_limited("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")
        if self.config.daily_limit is None:
            return None
        day = self._clock().date().isoformat()  # HubSpot resets at the portal's midnight; UTC here
        with self._lock:
            used = self._daily[1] if self._daily[0] == day else 0
            if used >= self.config.daily_limit:
                return _rate_limited("DAILY", "You have reached your daily limit.")
            self._daily = (day, used + 1)
        if not oauth:  # daily headers are not sent on OAuth-app requests (usage guidelines)
            g.hubspot_daily = (self.config.daily_limit, self.config.daily_limit - used - 1)
        return None

    @staticmethod
    def _headers(response: Response) -> Response:
        if "hubspot_burst" in g:
            limit, remaining = g.hubspot_burst
            response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(TEN_SECONDS_MS)
            response.headers["X-HubSpot-RateLimit-Max"] = str(limit)
            response.headers["X-HubSpot-RateLimit-Remaining"] = str(remaining)
        if "hubspot_daily" in g:
            limit, remaining = g.hubspot_daily
            response.headers["X-HubSpot-RateLimit-Daily"] = str(limit)
            response.headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(remaining)
        return response

    # -- routes -----------------------------------------------------------------------------------

    def blueprint(self) -> Blueprint:
        bp = Blueprint("hubspot", __name__, url_prefix=PREFIX)
        bp.before_request(self._guard)
        bp.after_request(self._headers)
        bp.errorhandler(HubSpotError)(
            lambda e: error_response(e.status, e.category, e.message, errors=e.errors, context=e.context)
        )
        bp.add_url_rule("/oauth/v1/token", "token", self.token, methods=["POST"])
        bp.add_url_rule(f"{CONTACTS}/batch/read", "batch_read", self.batch_read, methods=["POST"])
        bp.add_url_rule(f"{CONTACTS}/batch/update", "batch_update", self.batch_update, methods=["POST"])
        bp.add_url_rule(f"{CONTACTS}/batch/upsert", "batch_upsert", self.batch_upsert, methods=["POST"])
        bp.add_url_rule(f"{CONTACTS}/search", "search", self.search_contacts, methods=["POST"])
        bp.add_url_rule(CONTACTS, "create", self.create, methods=["POST"])
        bp.add_url_rule(f"{CONTACTS}/<contact_id>", "read", self.read, methods=["GET"])
        bp.add_url_rule("/crm/v3/properties/contacts", "properties", self.properties, methods=["GET"])
        bp.add_url_rule("/crm/v3/properties/contacts/<name>", "property", self.property, methods=["GET"])
        return bp

    def token(self) -> Response | tuple[Response, int]:
        form = request.form
        problem = None
        if form.get("grant_type") != "refresh_token":
            problem = (
                "BAD_GRANT_TYPE",
                "grant_type must be refresh_token (authorization codes are not simulated)",
            )
        elif not secrets.compare_digest(form.get("client_id", ""), self.config.client_id):
            problem = ("BAD_CLIENT_ID", "missing or unknown client id")
        elif not secrets.compare_digest(form.get("client_secret", ""), self.config.client_secret):
            problem = ("BAD_CLIENT_SECRET", "missing or invalid client secret")
        elif not secrets.compare_digest(form.get("refresh_token", ""), self.config.refresh_token):
            problem = ("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        if problem:
            return jsonify(status=problem[0], message=problem[1], correlationId=str(uuid.uuid4())), 400
        access_token = "CK" + secrets.token_urlsafe(96)
        with self._lock:
            self._tokens[access_token] = self._clock().timestamp() + self.config.token_ttl
        return jsonify(
            token_type="bearer",  # noqa: S106 (a token kind, not a secret)
            refresh_token=self.config.refresh_token,
            access_token=access_token,
            expires_in=self.config.token_ttl,
            token_use="access_token",  # noqa: S106
            hub_id=self.config.portal_id,
            scopes=["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write"],
        )

    def _inputs(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object with inputs[]")
        inputs = body["inputs"]
        if len(inputs) > MAX_BATCH:
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                f"Batch input size ({len(inputs)}) exceeds the maximum of {MAX_BATCH} inputs",
            )
        if not all(isinstance(i, dict) for i in inputs):
            raise HubSpotError(400, "VALIDATION_ERROR", "Every input must be a JSON object")
        return body, inputs

    def batch_read(self) -> tuple[Response, int]:
        started = self._clock()
        body, inputs = self._inputs()
        names = body.get("properties") or None
        id_property = body.get("idProperty")
        results, missing = [], []
        for item in dict.fromkeys(str(i.get("id", "")) for i in inputs):
            contact = self.store.find(item, id_property)
            if contact is None:
                missing.append(item)
            else:
                results.append(contact.to_api(names))
        errors = []
        if missing:
            errors.append(
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some CONTACT objects, they may be deleted or not "
                    "exist. "
                    "Check that ids are valid.",
                    "context": {"ids": missing},
                }
            )
        return _batch_body(results, errors, started)

    def batch_update(self) -> tuple[Response, int]:
        started = self._clock()
        _, inputs = self._inputs()
        written, failed = self.store.batch_update(inputs)
        return _batch_body([w.to_api(upsert=False) for w in written], [f.error() for f in failed], started)

    def batch_upsert(self) -> tuple[Response, int]:
        started = self._clock()
        _, inputs = self._inputs()
        written, failed = self.store.batch_upsert(inputs)
        return _batch_body([w.to_api(upsert=True) for w in written], [f.error() for f in failed], started)

    def search_contacts(self) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: expected a search request object")
        total, page, after = search(self.store.snapshot, self.schema, body, self.results)
        names = body.get("properties") or None
        out: dict[str, Any] = {"total": total, "results": [c.to_api(names) for c in page]}
        if after is not None:
            link = f"{request.host_url.rstrip('/')}{PREFIX}{CONTACTS}/search?after={after}"
            out["paging"] = {"next": {"after": str(after), "link": link}}
        return jsonify(out)

    def create(self) -> tuple[Response, int]:
        body = request.get_json(silent=True)
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            raise HubSpotError(400, "VALIDATION_ERROR", 'Invalid input JSON: expected {"properties": {...}}')
        if not any(str(properties.get(k) or "").strip() for k in ("email", "firstname", "lastname")):
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                "A contact needs at least one of email, firstname or lastname",
            )
        return jsonify(self.store.create(properties, "API").to_api()), 201

    def read(self, contact_id: str) -> Response:
        names = [n for n in request.args.get("properties", "").split(",") if n] or None
        contact = self.store.find(contact_id, request.args.get("idProperty"))
        if contact is None:
            raise HubSpotError(
                404,
                "OBJECT_NOT_FOUND",
                "Object not found.  objectId are usually numeric.",
                context={"id": [contact_id]},
            )
        return jsonify(contact.to_api(names))

    def properties(self) -> Response:
        return jsonify(results=self.schema.definitions())

    def property(self, name: str) -> Response:
        found = next((p for p in self.schema.definitions() if p["name"] == name), None)
        if found is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find property {name}")
        return jsonify(found)
