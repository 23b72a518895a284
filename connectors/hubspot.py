"""HubSpot: signature-v3 webhooks, and the rate-limited CRM v3 API (batches, search, properties)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from marshmallow import INCLUDE, Schema, fields, validate

from bridge.kernel.budget import Budget, Limit
from bridge.kernel.clock import Clock, iso, utcnow
from bridge.kernel.env import EnvReader
from bridge.kernel.errors import AuthError, ConnectorError, Permanent, RateLimited, WebhookInvalid, WebhookUnauthorized
from bridge.kernel.schemas import Digits
from connectors._http import chunks, json_object, retry_after_seconds
from connectors._rest import Pair, RestConnector
from connectors.base import (
    LATEST_EPOCH_MS,
    Change,
    FieldInfo,
    InboxEvent,
    UpsertResult,
    WebhookRequest,
    compact_json,
    from_epoch_ms,
    load_schema,
    parse_json,
)

log = logging.getLogger(__name__)

# https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation
MAX_TIMESTAMP_SKEW_MS = 5 * 60 * 1000
MAX_EVENTS_PER_DELIVERY = 100
# Epoch milliseconds in ASCII digits; 15 digits reach the year 33658, so any longer is not a timestamp
# (and int() of thousands of digits is refused by Python itself).
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
# v3 signs the URI with exactly these percent-escapes decoded; every other escape stays as sent.
_DECODED_ESCAPES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ESCAPE = re.compile("|".join(_DECODED_ESCAPES), re.IGNORECASE)

# API limits: https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines
API_BASE = "https://api.hubapi.com"
BATCH_SIZE = 100  # inputs per batch call (documented, not in the OpenAPI schema)
SEARCH_PAGE = 200
SEARCH_RESULT_CAP = 10_000  # a search cannot page past this many results
TIER_BURST = {"free": 100, "starter": 100, "professional": 190, "enterprise": 190, "api_addon": 250}
BURST_WINDOW_SECONDS = 10
LIMIT_SHARE = 0.9  # leave 10 % of the burst to the account's other integrations
SEARCH_PER_SECOND = 4  # documented as 4 (older) or 5 (newer) per account: take the lower
REFRESH_PATH = "/oauth/v1/token"
TOKEN_REFRESH_MARGIN = 300  # seconds before expiry; access tokens live 1800 s
# 207 per-record error categories that may pass when sent again later; everything else (VALIDATION_ERROR,
# CONFLICT, OBJECT_NOT_FOUND...) fails the same way again. The spellings are from HubSpot's error guide.
RETRIABLE_CATEGORIES = frozenset(
    {"RATE_LIMITS", "INTERNAL_ERROR", "TIMEOUT", "SERVICE_UNAVAILABLE"}
)
# Webhook subscription types are "<object>.<event>", the object singular; generic subscriptions say
# "object.<event>" with an objectTypeId. https://developers.hubspot.com/docs/api/crm/understanding-the-crm
_SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "tickets": "ticket",
             "products": "product", "line_items": "line_item"}
_PLURAL = {singular: plural for plural, singular in _SINGULAR.items()}
_OBJECT_TYPE_IDS = {"0-1": "contacts", "0-2": "companies", "0-3": "deals", "0-5": "tickets"}
_KINDS = {"creation": "created", "deletion": "deleted", "privacyDeletion": "erased", "merge": "merged",
          "restore": "restored", "propertyChange": "property", "associationChange": "association"}
_OAUTH_SETTINGS = (
    ("REFRESH", "HUBSPOT_REFRESH_TOKEN"),
    ("CLIENT_ID", "HUBSPOT_CLIENT_ID"),
    ("SECRET", "HUBSPOT_CLIENT_SECRET"),
)


def signed_uri(uri: str) -> str:
    """The URI as HubSpot hashes it: only the listed escapes decoded."""
    return _ESCAPE.sub(lambda m: _DECODED_ESCAPES[m.group(0).upper()], uri)


def sign_v3(client_secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """Base64 HMAC-SHA256 of method + URI + body + timestamp, keyed with the app's client secret."""
    message = (method.upper() + signed_uri(uri)).encode() + body + timestamp.encode()
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# HubSpot's ids are 64-bit integers (Java longs); anything else is not an id HubSpot made. Digits, not
# marshmallow's Integer: that one reads "١٢٣" (Arabic-Indic digits) or 1.5 as an id, and the README promises
# ids that are not ASCII digits are refused.
_ID = validate.Range(min=0, max=2**63 - 1, error="must be an id from 0 to 2^63-1")
_OCCURRED_AT = validate.Range(
    min=0, max=LATEST_EPOCH_MS, error="must be epoch milliseconds from 1970 to the year 9999"
)


class EventSchema(Schema):
    """One element of a webhook array; fields HubSpot adds later are kept as they are."""

    class Meta:
        unknown = INCLUDE

    eventId = Digits(required=True, validate=_ID)  # noqa: N815 (HubSpot's field names)
    subscriptionId = Digits(required=True, validate=_ID)  # noqa: N815
    portalId = Digits(required=True, validate=_ID)  # noqa: N815
    occurredAt = Digits(required=True, validate=_OCCURRED_AT)  # noqa: N815
    subscriptionType = fields.String(required=True, validate=validate.Length(min=1))  # noqa: N815
    objectId = Digits(required=True, validate=_ID)  # noqa: N815
    attemptNumber = Digits(validate=validate.Range(min=0, max=2**31 - 1))  # noqa: N815
    propertyName = fields.String(allow_none=True)  # noqa: N815
    propertyValue = fields.Raw(allow_none=True)  # noqa: N815
    changeSource = fields.String(allow_none=True)  # noqa: N815


_EVENT_SCHEMA = EventSchema()


@dataclass(frozen=True)
class ApiSettings:
    """How to reach the CRM API: a private-app token, or an OAuth app's refresh token."""

    access_token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    refresh_token: str | None = field(default=None, repr=False)
    base_url: str = API_BASE
    tier: str = "free"
    timezone: str = "Asia/Tokyo"


class HubSpotConnector(RestConnector):
    name = "hubspot"
    batch_size = BATCH_SIZE
    settings_help = {
        "HUBSPOT_ACCESS_TOKEN": "private-app access token (or use the three OAuth settings below)",
        "HUBSPOT_CLIENT_ID": "OAuth app client id (with the client secret and refresh token)",
        "HUBSPOT_CLIENT_SECRET": "app client secret: signs webhooks (v3), refreshes OAuth tokens",
        "HUBSPOT_REFRESH_TOKEN": "OAuth refresh token of the installed app",
        "HUBSPOT_API_BASE": f"API base URL, e.g. the sandbox's [default: {API_BASE}]",
        "HUBSPOT_TIER": "free|starter|professional|enterprise|api_addon [default: free]",
        "HUBSPOT_TIMEZONE": "account time zone, for the daily reset [default: Asia/Tokyo]",
        "HUBSPOT_WEBHOOK_URL": "the public URL HubSpot calls, when a proxy changes the URL we see",
    }

    def __init__(
        self,
        client_secret: str | None,
        webhook_url: str | None = None,
        api: ApiSettings | None = None,
        *,
        clock: Clock = utcnow,
        budget: Budget | None = None,
    ):
        super().__init__(clock=clock, budget=budget)
        self.client_secret = client_secret
        self.webhook_url = webhook_url
        self.api = api or ApiSettings()
        self._limits = {
            "api": Limit(int(TIER_BURST[self.api.tier] * LIMIT_SHARE), BURST_WINDOW_SECONDS),
            # Search has its own per-second limit, outside the ten-second bucket.
            "search": Limit(SEARCH_PER_SECOND, 1.0),
        }
        self._token_lock = threading.Lock()
        self._oauth_token: str | None = None
        self._refresh_at: datetime | None = None  # when the OAuth token is to be refreshed
        self._refresh_token = self.api.refresh_token

    @classmethod
    def from_env(cls, read: EnvReader, *, clock: Clock = utcnow, budget: Budget | None = None) -> HubSpotConnector:
        access_token = read.text("HUBSPOT_ACCESS_TOKEN")
        client_id = read.text("HUBSPOT_CLIENT_ID")
        refresh_token = read.text("HUBSPOT_REFRESH_TOKEN")
        client_secret = read.text("HUBSPOT_CLIENT_SECRET")
        if access_token and refresh_token:
            read.problems.append("set HUBSPOT_ACCESS_TOKEN (private app) or HUBSPOT_REFRESH_TOKEN (OAuth), not both")
        elif refresh_token or (client_id and not access_token):
            oauth = (
                ("HUBSPOT_CLIENT_ID", client_id),
                ("HUBSPOT_CLIENT_SECRET", client_secret),
                ("HUBSPOT_REFRESH_TOKEN", refresh_token),
            )
            missing = [name for name, value in oauth if not value]
            if missing:
                read.problems.append(
                    "HubSpot OAuth needs HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET and "
                    f"HUBSPOT_REFRESH_TOKEN; missing: {', '.join(missing)}"
                )
        timezone = read.text("HUBSPOT_TIMEZONE", "Asia/Tokyo")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            read.problems.append(f"HUBSPOT_TIMEZONE={timezone!r} is not a time zone name such as Asia/Tokyo")
            timezone = "Asia/Tokyo"
        api = ApiSettings(
            access_token=access_token,
            client_id=client_id,
            refresh_token=refresh_token,
            base_url=(read.url("HUBSPOT_API_BASE", API_BASE) or API_BASE).rstrip("/"),
            tier=read.choice("HUBSPOT_TIER", "free", tuple(TIER_BURST)),
            timezone=timezone,
        )
        return cls(client_secret, read.url("HUBSPOT_WEBHOOK_URL"), api, clock=clock, budget=budget)

    # --- API -----------------------------------------------------------------------------

    @property
    def auth_setting(self) -> str:  # type: ignore[override]
        return "HUBSPOT_REFRESH_TOKEN" if self._refresh_token and not self.api.access_token else "HUBSPOT_ACCESS_TOKEN"

    def api_problem(self) -> str | None:
        if self.api.access_token or (self.api.client_id and self.client_secret and self._refresh_token):
            return None
        return (
            "HubSpot API is not configured: set HUBSPOT_ACCESS_TOKEN (private app), "
            "or HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET and HUBSPOT_REFRESH_TOKEN (OAuth app)"
        )

    def check(self) -> str:
        # One search result proves the token and the contacts read scope, outside the burst bucket.
        path = "/crm/v3/objects/contacts/search"
        self.request("POST", path, f"POST {path}", pool="search", json={"limit": 1})
        how = "private-app token" if self.api.access_token else "OAuth token refreshed"
        return f"{how}; contacts readable at {self.api.base_url}"

    def read(
        self, object: str, ids: Sequence[str], fields: Sequence[str], id_field: str | None = None
    ) -> dict[str, dict[str, Any]]:
        by_property = id_field not in (None, "hs_object_id")
        path = f"/crm/v3/objects/{object}/batch/read"
        found: dict[str, dict[str, Any]] = {}
        for batch in chunks(list(dict.fromkeys(str(i) for i in ids)), BATCH_SIZE):
            body: dict[str, Any] = {
                "inputs": [{"id": i} for i in batch],
                "properties": sorted({*fields, *([id_field] if by_property else [])}),
            }
            if by_property:
                body["idProperty"] = id_field
            reply = self.request("POST", path, f"POST {path}", json=body).json()
            # Unknown ids come back in errors[] as OBJECT_NOT_FOUND (HTTP 207): simply absent.
            wanted = {i.lower(): i for i in batch}
            for result in reply.get("results", []):
                record = _record(result)
                key = str(record.get(id_field) if by_property else result["id"])
                found[wanted.get(key.lower(), key)] = record
        return found

    def changed_since(self, object: str, since: datetime, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        stamp = _stamp(object)
        start = int(since.timestamp() * 1000)
        seen_at_start: set[str] = set()  # ids already yielded whose stamp equals `start`
        while True:
            last, seen_at_last, after = start, set(seen_at_start), None
            while True:
                records, after = self._search_page(object, stamp, "GTE", str(start), {*fields, stamp}, after)
                for record in records:
                    if record["hs_object_id"] in seen_at_start:
                        continue
                    moment = _epoch_ms(record.get(stamp)) or start
                    if moment != last:
                        last, seen_at_last = moment, set()
                    seen_at_last.add(record["hs_object_id"])
                    yield record
                if not after:
                    return
                if str(after).isdigit() and int(after) >= SEARCH_RESULT_CAP:
                    break
            # Search stops at 10,000 results: open a new window at the last timestamp seen.
            # https://developers.hubspot.com/docs/api/crm/search#limitations
            if last == start:
                raise Permanent(
                    self.name,
                    f"more than {SEARCH_RESULT_CAP} records share {stamp}={start}; search cannot page past them",
                    fields=(stamp,),
                )
            start, seen_at_start = last, seen_at_last

    def scan(self, object: str, fields: Sequence[str], *, after: str | None = None) -> Iterator[dict[str, Any]]:
        # Search sorted by record id within a window "hs_object_id > last id": ids are unique, so before `after`
        # would reach the 10,000-result cap a new window opens past the last id read, and no record comes twice.
        # https://developers.hubspot.com/docs/api/crm/search#limitations
        last = seen = str(after or 0)
        while True:
            offset = None
            while True:
                records, offset = self._search_page(object, "hs_object_id", "GT", last, set(fields), offset)
                for record in records:
                    seen = record["hs_object_id"]
                    yield record
                if not offset:
                    return
                if not str(offset).isdigit() or int(offset) + SEARCH_PAGE > SEARCH_RESULT_CAP:
                    break
            if seen == last:  # a window that moved nothing would repeat forever
                raise Permanent(self.name, f"search past {object} id {last} returned no records but a next page")
            last = seen

    def _search_page(self, object: str, by: str, operator: str, value: str, fields: set[str],
                     after: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a search filtered and sorted (ascending) on `by`: its records, and the next page's cursor."""
        path = f"/crm/v3/objects/{object}/search"
        body: dict[str, Any] = {
            "filterGroups": [{"filters": [{"propertyName": by, "operator": operator, "value": value}]}],
            "sorts": [{"propertyName": by, "direction": "ASCENDING"}],
            "properties": sorted(fields),
            "limit": SEARCH_PAGE,
        }
        if after:
            body["after"] = after
        page = self.request("POST", path, f"POST {path}", pool="search", json=body).json()
        following = ((page.get("paging") or {}).get("next") or {}).get("after")
        return [_record(r) for r in page.get("results", [])], following

    def change_fields(self, object: str) -> tuple[str | None, str | None]:
        # hs_updated_by_user_id ("Updated by user ID": the user who last updated the record) is a default property
        # of the CRM objects, as the properties API lists them. https://developers.hubspot.com/docs/api/crm/properties
        return _stamp(object), "hs_updated_by_user_id"

    def describe(self, object: str) -> dict[str, FieldInfo]:
        path = f"/crm/v3/properties/{object}"
        reply = self.request("GET", path, f"GET {path}").json()
        return {p["name"]: _field_info(p) for p in reply.get("results", [])}

    def upsert_batch(self, object: str, key_field: str, batch: Sequence[Pair]) -> list[UpsertResult]:
        # Batch update by record id when the key is hs_object_id: upsert needs a unique property,
        # and records with an id already exist. https://developers.hubspot.com/docs/api/crm/contacts
        by_id = key_field == "hs_object_id"
        inputs = []
        for index, (key, record) in enumerate(batch):
            properties = {k: _text(v) for k, v in record.items() if not (by_id and k == key_field)}
            entry: dict[str, Any] = {"id": key, "properties": properties}
            if not by_id:
                # The trace id ties each result and error back to its input.
                entry.update(idProperty=key_field, objectWriteTraceId=str(index))
            inputs.append(entry)
        path = f"/crm/v3/objects/{object}/batch/{'update' if by_id else 'upsert'}"
        reply = self.request("POST", path, f"POST {path}", json={"inputs": inputs}).json()
        return self._outcomes([key for key, _ in batch], key_field, reply)

    def _outcomes(self, keys: list[str], key_field: str, reply: dict[str, Any]) -> list[UpsertResult]:
        """Per-input results of a 200/207 reply, matched by trace id, then key, then record id."""
        index_of = {key: i for i, key in enumerate(keys)}
        outcomes: dict[int, UpsertResult] = {}
        for result in reply.get("results", []):
            trace = str(result.get("objectWriteTraceId", ""))
            key = str((result.get("properties") or {}).get(key_field, result.get("id")))
            index = int(trace) if trace.isdigit() and int(trace) < len(keys) else index_of.get(key)
            if index is not None:
                outcome = "created" if result.get("new") else "updated"
                outcomes[index] = UpsertResult(keys[index], outcome, id=str(result.get("id")),
                                               values=result.get("properties"))
        stray = None
        for error in reply.get("errors", []):
            context = error.get("context") or {}
            indexes = [int(t) for t in context.get("objectWriteTraceId", []) if str(t).isdigit()]
            indexes += [index_of[str(k)] for k in context.get("ids", []) if str(k) in index_of]
            if not indexes:
                stray = error
            for index in indexes:
                if index < len(keys):
                    outcomes[index] = _failed(keys[index], error)
        # An input with neither result nor error: blame the stray error, else call it retriable.
        fallback = stray or {"category": "MISSING_RESULT", "message": "HubSpot returned no result for this input"}
        return [outcomes.get(i) or _failed(key, fallback, retriable=stray is None) for i, key in enumerate(keys)]

    # --- the request cycle's hooks -------------------------------------------------------------

    def base_url(self) -> str:
        return self.api.base_url

    def limit(self, pool: str) -> Limit | None:
        return self._limits.get(pool)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token()}"}

    def reauthenticate(self, error: AuthError) -> bool:
        # An OAuth token can end before the expiry we noted (this machine's clock is late): refresh once.
        # https://developers.hubspot.com/docs/api/faq/api-error-responses
        if self.api.access_token or error.code != "EXPIRED_AUTHENTICATION":
            return False
        self._oauth_token = None
        return True

    def _token(self) -> str:
        if self.api.access_token:
            return self.api.access_token
        with self._token_lock:
            # Refresh ahead of expiry: HubSpot advises against waiting for a 401.
            # https://developers.hubspot.com/docs/api/oauth/refresh-access-token
            if self._oauth_token is None or self._refresh_at is None or self.clock() >= self._refresh_at:
                self._refresh()
            return self._oauth_token or ""

    def _refresh(self) -> None:
        form = {
            "grant_type": "refresh_token",
            "client_id": self.api.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self._refresh_token,
        }
        url = self.api.base_url + REFRESH_PATH
        reply = self.send("POST", url, "POST /oauth/v1/token", pool="auth", data=form).json()
        self._oauth_token = reply["access_token"]
        lifetime = float(reply.get("expires_in", 1800))
        self._refresh_at = self.clock() + timedelta(seconds=lifetime - TOKEN_REFRESH_MARGIN)
        self._refresh_token = reply.get("refresh_token") or self._refresh_token
        log.info("hubspot: OAuth access token refreshed, valid for %s s", reply.get("expires_in"))

    def classify(self, response: requests.Response) -> ConnectorError:
        body = json_object(response)
        message = str(body.get("message") or response.reason)
        status = response.status_code
        if response.request.path_url.endswith(REFRESH_PATH) and status in (400, 401, 403):
            reason = str(body.get("status") or "")
            setting = next((s for part, s in _OAUTH_SETTINGS if part in reason), "HUBSPOT_REFRESH_TOKEN")
            return AuthError(
                self.name,
                f"OAuth token refresh refused ({reason or status}: {message}); check {setting}",
                setting=setting,
                code=reason or None,
                status=status,
            )
        if status == 429:
            # https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines
            if body.get("policyName") == "DAILY":
                return self.pause(self._next_daily_reset(), f"daily API limit reached ({message})")
            # No Retry-After documented: wait for the window to roll (search's is one second).
            window_ms = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds", "")
            wait = retry_after_seconds(response, self.clock())
            if wait is None and window_ms.isdigit():
                wait = int(window_ms) / 1000
            elif wait is None:
                wait = 1.0 if body.get("policyName") == "SECONDLY" else BURST_WINDOW_SECONDS
            return RateLimited(
                self.name,
                f"rate limited ({body.get('policyName') or 'HTTP 429'}): {message}",
                retry_after=wait,
                code=body.get("policyName"),
                status=status,
            )
        fields = tuple(e["in"] for e in body.get("errors", []) if isinstance(e, dict) and e.get("in"))
        return self.http_error(response, message=message, code=body.get("category"), fields=fields)

    def _next_daily_reset(self) -> datetime:
        """The next midnight in the account's time zone, when the daily counter resets."""
        zone = ZoneInfo(self.api.timezone)
        today = self.clock().astimezone(zone).date()
        return datetime.combine(today + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)

    # --- Webhooks ------------------------------------------------------------------------

    def webhook_problem(self) -> str | None:
        if not self.client_secret:
            return "HubSpot webhooks are not configured: set HUBSPOT_CLIENT_SECRET to the app's client secret"
        return None

    def public_uri(self, request: WebhookRequest) -> str:
        """The URL HubSpot called: HUBSPOT_WEBHOOK_URL when set (a proxy rewrites the URL we
        see), plus the query."""
        if not self.webhook_url:
            return request.url
        query = request.url.partition("?")[2]
        if query and "?" not in self.webhook_url:
            return f"{self.webhook_url}?{query}"
        return self.webhook_url

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        signature = request.headers.get("X-HubSpot-Signature-v3")
        timestamp = request.headers.get("X-HubSpot-Request-Timestamp", "")
        if not signature or not timestamp:
            raise WebhookUnauthorized(
                "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp: only signature v3 is accepted"
            )
        if not _TIMESTAMP.fullmatch(timestamp):
            raise WebhookUnauthorized("X-HubSpot-Request-Timestamp is not epoch milliseconds")
        skew = int(now.timestamp() * 1000) - int(timestamp)
        if abs(skew) > MAX_TIMESTAMP_SKEW_MS:
            direction = "old" if skew > 0 else "in the future"
            raise WebhookUnauthorized(
                f"X-HubSpot-Request-Timestamp is {abs(skew) // 1000} s {direction} (limit 300 s); "
                "check the server clock"
            )
        expected = sign_v3(self.client_secret or "", request.method, self.public_uri(request), request.body, timestamp)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise WebhookUnauthorized(
                "signature does not match: check HUBSPOT_CLIENT_SECRET, and HUBSPOT_WEBHOOK_URL when behind a proxy"
            )

    def parse_webhook(self, request: WebhookRequest, received_at: datetime) -> list[InboxEvent]:
        data = parse_json(request.body)
        if not isinstance(data, list):
            raise WebhookInvalid("body", "must be a JSON array of events")
        if not 1 <= len(data) <= MAX_EVENTS_PER_DELIVERY:
            raise WebhookInvalid("body", f"holds {len(data)} events; HubSpot sends 1 to {MAX_EVENTS_PER_DELIVERY}")
        events = []
        for index, item in enumerate(data):
            if not isinstance(item, dict):
                raise WebhookInvalid(f"[{index}]", "must be a JSON object")
            event = load_schema(_EVENT_SCHEMA, item, f"[{index}]")
            # eventId alone is not unique: https://developers.hubspot.com/docs/api/webhooks
            # A 0 is written as "" here, as every stored key has it: spelling it "0" now would make the retry of
            # a delivery stored before an upgrade look new. That cannot collide with a missing id: the schema
            # refuses an event without eventId, subscriptionId, objectId or occurredAt (HubSpot always sends
            # them), so only propertyName, sent for property changes alone, may be absent.
            key = ":".join(
                str(event.get(k) or "") for k in ("subscriptionId", "eventId", "objectId", "occurredAt", "propertyName")
            )
            events.append(
                InboxEvent(
                    source=self.name,
                    event_type=event["subscriptionType"],
                    dedupe_key=key,
                    record_key=self.record_key(_object_of(event["subscriptionType"], event), str(event["objectId"])),
                    occurred_at=from_epoch_ms(event["occurredAt"], f"[{index}].occurredAt"),
                    body=compact_json(item),
                )
            )
        return events

    def change_of(self, event_type: str, body: str, occurred_at: datetime) -> Change:
        event = json.loads(body)
        action = event_type.partition(".")[2]
        name = event.get("propertyName")
        return Change(
            system=self.name,
            object=_object_of(event_type, event),
            record_id=str(event["objectId"]),
            kind=_KINDS.get(action, action),
            fields={name: event.get("propertyValue")} if name else {},
            snapshot=False,
            occurred_at=occurred_at,
            version=iso(from_epoch_ms(event["occurredAt"])),
        )

    def record_key(self, object: str, record_id: str) -> str:
        # The subscription type's singular spelling, as inboxes have stored it: "contact:123".
        return f"{_SINGULAR.get(object, object)}:{record_id}"

    def parse_record_key(self, key: str) -> tuple[str, str]:
        singular, _, record_id = key.partition(":")
        return _PLURAL.get(singular, singular), record_id


def _object_of(subscription_type: str, event: Mapping[str, Any]) -> str:
    """The object an event is about, as the API names it: "contact.creation" -> "contacts"; a generic
    "object.creation" says it in objectTypeId ("0-1" is contacts; a custom object's id is its API name)."""
    prefix = subscription_type.partition(".")[0]
    if prefix == "object" and event.get("objectTypeId"):
        type_id = str(event["objectTypeId"])
        return _OBJECT_TYPE_IDS.get(type_id, type_id)
    return _PLURAL.get(prefix, prefix)


def _stamp(object: str) -> str:
    """The property holding when a record last changed: contacts keep the older name."""
    return "lastmodifieddate" if object == "contacts" else "hs_lastmodifieddate"


def _text(value: Any) -> str:
    """HubSpot property values are strings; None clears a property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _record(result: Mapping[str, Any]) -> dict[str, Any]:
    record = dict(result.get("properties") or {})
    record.setdefault("hs_object_id", str(result["id"]))
    record["hs_object_id"] = str(record["hs_object_id"])
    return record


def _epoch_ms(value: Any) -> int | None:
    """A HubSpot timestamp (ISO 8601 or epoch milliseconds) as epoch milliseconds."""
    text = str(value or "")
    if text.isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _failed(key: str, error: Mapping[str, Any], retriable: bool | None = None) -> UpsertResult:
    category = str(error.get("category") or "")
    if retriable is None:
        retriable = category in RETRIABLE_CATEGORIES
    details = [e for e in error.get("errors") or [] if isinstance(e, dict)]
    return UpsertResult(
        key=key,
        outcome="failed",
        category="retriable" if retriable else "permanent",
        code=category or None,
        message=str(error.get("message") or ""),
        fields=tuple(e["in"] for e in details if e.get("in")),
    )


def _field_info(prop: Mapping[str, Any]) -> FieldInfo:
    kind, widget = prop.get("type", "string"), prop.get("fieldType", "")
    if widget == "booleancheckbox" or kind == "bool":
        kind = "boolean"
    elif kind == "string":
        kind = {"textarea": "text", "phonenumber": "phone"}.get(
            widget, "email" if prop["name"] == "email" else "string"
        )
    elif kind not in ("number", "date", "datetime", "enumeration"):
        kind = "string"
    return FieldInfo(
        name=prop["name"],
        type=kind,
        # email is HubSpot's de-duplication key, so it can serve as an upsert key too.
        unique=bool(prop.get("hasUniqueValue")) or prop["name"] in ("hs_object_id", "email"),
        options=tuple(str(o["value"]) for o in prop.get("options") or [] if "value" in o),
        label=prop.get("label"),
    )
