"""The Salesforce simulator's HTTP surface: OAuth token, session check, API usage, REST calls."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from connectors.sandbox.config import DeliveryConfig, SalesforceConfig
from connectors.sandbox.controls import Failure, FailurePlan
from connectors.sandbox.delivery import DeliveryLog
from connectors.sandbox.salesforce_auth import JWT_BEARER, GrantError, check_assertion, check_client
from connectors.sandbox.salesforce_objects import schemas
from connectors.sandbox.salesforce_org import Org
from connectors.sandbox.salesforce_outbound import OutboundMessages
from connectors.sandbox.salesforce_schema import RequestError, format_value, parse_datetime
from connectors.sandbox.salesforce_store import MAX_COLLECTION, Locators, SObjectStore
from connectors.sandbox.soql import parse

LOGIN_PREFIX = "/salesforce"
# The instance (instance_url) is the server root: relative nextRecordsUrl values resolve either way.
REST = "/services/data/v<version>"
MIN_COLLECTION_UPSERT_VERSION = 46.0
MIN_COLLECTION_CREATE_VERSION = 42.0
QUERY_BATCH_MIN, QUERY_BATCH_MAX = 200, 2000  # Sforce-Query-Options: batchSize bounds
# getDeleted: start no more than 30 days back, and more than a minute before end; both read to the minute.
# https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_getdeleted.htm
REPLICATION_DAYS = 30
_DEFAULT_CODES = {
    401: "INVALID_SESSION_ID",
    403: "REQUEST_LIMIT_EXCEEDED",
    404: "NOT_FOUND",
    500: "UNKNOWN_EXCEPTION",
    503: "SERVER_UNAVAILABLE",
}


def rest_error(status: int, code: str, message: str) -> Response:
    # https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
    response = jsonify([{"message": message, "errorCode": code}])
    response.status_code = status
    return response


def not_found() -> Response:
    return rest_error(404, "NOT_FOUND", "The requested resource does not exist")


class SalesforceSim:
    def __init__(
        self,
        config: SalesforceConfig,
        clock: Callable[[], datetime],
        failures: FailurePlan,
        delivery: DeliveryConfig,
        log: DeliveryLog,
        instance_url: Callable[[], str],
    ) -> None:
        self.config = config
        self._clock = clock
        self._failures = failures
        self._instance_url = instance_url
        self.org = Org(schemas(config.custom_fields), config.user_id, clock,
                       lambda sobject, ids: self.outbound.on_changes(sobject, ids), config.ui_user_id)
        self.store = self.org.stores["Lead"]  # the object Bridge hands leads to
        self.schema = self.store.schema
        self.locators = Locators()
        self.outbound = OutboundMessages(config, delivery, log, self.org.get, instance_url)
        self._lock = threading.Lock()
        self._sessions: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self.api_usage = 0

    def reset(self) -> None:
        self.org.reset()
        self.locators.reset()
        self.outbound.dispatcher.clear()
        with self._lock:
            self._sessions.clear()
            self.api_usage = 0

    def expire_tokens(self) -> int:
        """End every session, as an admin revoking them or a session timeout would."""
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
            return count

    # -- guards -----------------------------------------------------------------------------------

    def _guard(self) -> Response | None:
        failure = self._failures.take(request.endpoint or "", request.environ)
        if failure:
            return self._injected(failure)
        if request.endpoint == "salesforce.token":
            return None
        version = (request.view_args or {}).get("version", "")
        if not re.fullmatch(r"\d{2}\.0", version):
            return not_found()
        g.salesforce_rest = True
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        with self._lock:
            expiry = self._sessions.get(token) if scheme.lower() in ("bearer", "oauth") else None
            if expiry is None or expiry <= self._clock().timestamp():
                response = rest_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
                response.headers["WWW-Authenticate"] = "Token"
                return response
            if self.api_usage >= self.config.daily_api_limit:
                return rest_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.api_usage += 1
        return None

    def _injected(self, failure: Failure) -> Response:
        time.sleep(failure.delay)
        code = failure.code or _DEFAULT_CODES.get(failure.status, "UNKNOWN_EXCEPTION")
        response = rest_error(failure.status, code, failure.message or "Injected failure (sandbox)")
        if failure.retry_after is not None:
            response.headers["Retry-After"] = str(failure.retry_after)
        return response

    def _limit_header(self, response: Response) -> Response:
        # https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
        if g.get("salesforce_rest"):
            response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_usage}/{self.config.daily_api_limit}"
        return response

    # -- routes -----------------------------------------------------------------------------------

    def blueprint(self) -> Blueprint:
        bp = Blueprint("salesforce", __name__)
        bp.before_request(self._guard)
        bp.after_request(self._limit_header)
        bp.errorhandler(RequestError)(lambda e: rest_error(e.status, e.code, e.message))
        bp.add_url_rule(f"{LOGIN_PREFIX}/services/oauth2/token", "token", self.token, methods=["POST"])
        bp.add_url_rule(f"{REST}/sobjects/<sobject>/describe", "describe", self.describe)
        bp.add_url_rule(f"{REST}/sobjects/<sobject>/deleted/", "get_deleted", self.get_deleted)
        bp.add_url_rule(f"{REST}/sobjects/<sobject>/<record_id>", "read", self.read)
        bp.add_url_rule(
            f"{REST}/composite/sobjects/<sobject>/<ext_field>",
            "upsert",
            self.upsert,
            methods=["PATCH"],
        )
        bp.add_url_rule(f"{REST}/composite/sobjects", "create", self.create, methods=["POST"])
        bp.add_url_rule(f"{REST}/query", "query", self.query)
        bp.add_url_rule(f"{REST}/query/<cursor>", "query_more", self.query_more)
        bp.add_url_rule(f"{REST}/limits", "limits", self.limits)
        return bp

    def token(self) -> Response | tuple[Response, int]:
        form = request.form
        try:
            if form.get("grant_type") == JWT_BEARER:
                check_assertion(form.get("assertion", ""), self.config, self._clock().timestamp())
            elif form.get("grant_type") == "client_credentials":
                client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
                if request.authorization and request.authorization.type == "basic":
                    client_id = request.authorization.username or ""
                    client_secret = request.authorization.password or ""
                check_client(client_id, client_secret, self.config)
            else:
                raise GrantError("unsupported_grant_type", "grant type not supported")
        except GrantError as error:
            return jsonify(error=error.error, error_description=error.description), 400
        token = f"{self.config.org_id[:15]}!{secrets.token_urlsafe(72)}"
        now = self._clock().timestamp()
        with self._lock:
            self._sessions[token] = now + self.config.token_ttl
        login = request.host_url.rstrip("/") + LOGIN_PREFIX
        identity = f"{login}/id/{self.config.org_id}/{self.config.user_id}"
        issued_at = str(int(now * 1000))
        signature = hmac.new(self.config.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256)
        return jsonify(
            access_token=token,
            instance_url=self._instance_url(),
            id=identity,
            token_type="Bearer",  # noqa: S106 (a token kind, not a secret)
            issued_at=issued_at,
            signature=base64.b64encode(signature.digest()).decode(),
            scope="api",
        )

    @staticmethod
    def _render(store: SObjectStore, record: dict[str, Any], fields: list[str], version: str) -> dict[str, Any]:
        sobject = store.schema.object
        url = f"/services/data/v{version}/sobjects/{sobject}/{record['Id']}"
        out: dict[str, Any] = {"attributes": {"type": sobject, "url": url}}
        for name in fields:
            out[name] = format_value(record.get(name), store.schema.fields[name]["type"])
        return out

    def describe(self, version: str, sobject: str) -> Response:
        store = self.org.store(sobject)
        return jsonify(store.schema.describe()) if store else not_found()

    def get_deleted(self, version: str, sobject: str) -> Response:
        """sObject Get Deleted: the records deleted from start to end that the recycle bin's log still holds.
        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_getdeleted.htm"""
        store = self.org.store(sobject)
        if store is None:
            return not_found()
        now = self._clock()
        start, end = (_replication_date(request.args.get(name, ""), name) for name in ("start", "end"))
        if start < now - timedelta(days=REPLICATION_DAYS):
            raise RequestError("INVALID_REPLICATION_DATE", f"start can be at most {REPLICATION_DAYS} days ago")
        if end - start <= timedelta(minutes=1):
            raise RequestError("INVALID_REPLICATION_DATE", "start must precede end by more than one minute")
        covered = min(end, now)
        found, earliest = store.deleted(start, covered)
        return jsonify(
            deletedRecords=[{"id": record_id, "deletedDate": format_value(at, "datetime")} for record_id, at in found],
            earliestDateAvailable=format_value(earliest, "datetime"),
            latestDateCovered=format_value(covered, "datetime"),
        )

    def read(self, version: str, sobject: str, record_id: str) -> Response:
        store = self.org.store(sobject)
        record = store.get(record_id) if store else None
        if store is None or record is None:
            return not_found()
        names = [store.schema.name(n) for n in request.args.get("fields", "").split(",") if n.strip()]
        if None in names:
            raise RequestError(
                "INVALID_FIELD", f"No such column in fields={request.args['fields']} on {store.schema.object}"
            )
        return jsonify(self._render(store, record, [n for n in names if n] or list(store.schema.fields), version))

    def upsert(self, version: str, sobject: str, ext_field: str) -> Response:
        store = self.org.store(sobject)
        if store is None or float(version) < MIN_COLLECTION_UPSERT_VERSION:
            return not_found()
        name = store.schema.name(ext_field)
        if name is None or name not in store.schema.keys:
            return rest_error(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {ext_field}",
            )
        body = request.get_json(silent=True)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise RequestError("JSON_PARSER_ERROR", "Expected a JSON object with records[]")
        if len(records) > MAX_COLLECTION:
            raise RequestError(
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_COLLECTION} records into this call",
            )
        sobject = store.schema.object
        for record in records:
            attributes = record.get("attributes") if isinstance(record, dict) else None
            if not isinstance(attributes, dict) or str(attributes.get("type", "")).lower() != sobject.lower():
                raise RequestError("JSON_PARSER_ERROR", f"Each record needs an attributes map with type {sobject}")
        values = [store.schema.coerce(record) for record in records]
        return jsonify(store.upsert(name, values, bool(body.get("allOrNone", False))))

    def create(self, version: str) -> Response:
        """sObject Collections create: up to 200 new records, each saved on its own unless allOrNone. The sandbox
        takes records of one object per call (the API also mixes objects).
        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_create.htm"""
        if float(version) < MIN_COLLECTION_CREATE_VERSION:
            return not_found()
        body = request.get_json(silent=True)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            raise RequestError("JSON_PARSER_ERROR", "Expected a JSON object with records[]")
        if len(records) > MAX_COLLECTION:
            raise RequestError(
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_COLLECTION} records into this call",
            )
        types = {str((r.get("attributes") or {}).get("type", "")) if isinstance(r, dict) else "" for r in records}
        store = self.org.store(types.pop()) if len(types) == 1 else None
        if store is None:
            raise RequestError("INVALID_TYPE", "Each record needs an attributes map with the type of one object "
                                               "the sandbox keeps (one object per call in the sandbox)")
        if any("id" in {k.lower() for k in r} for r in records):
            raise RequestError("MALFORMED_ID", "records to create cannot have an Id")
        values = [store.schema.coerce(record) for record in records]
        return jsonify(store.create(values, bool(body.get("allOrNone", False))))

    def _batch_size(self) -> int:
        match = re.search(r"batchSize=(\d+)", request.headers.get("Sforce-Query-Options", ""))
        if not match:
            return self.config.query_batch_size
        return max(QUERY_BATCH_MIN, min(QUERY_BATCH_MAX, int(match.group(1))))

    def _page(
        self,
        store: SObjectStore,
        rows: list[dict],
        fields: list[str],
        start: int,
        size: int,
        locator: str | None,
        version: str,
    ) -> Response:
        end = start + size
        body: dict[str, Any] = {
            "totalSize": len(rows),
            "done": end >= len(rows),
            "records": [self._render(store, r, fields, version) for r in rows[start:end]],
        }
        if end < len(rows):
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        return jsonify(body)

    def query(self, version: str) -> Response:
        query = parse(request.args.get("q", ""), {name: s.schema for name, s in self.org.stores.items()})
        store = self.org.stores[query.sobject]
        rows = store.run(query)
        size = self._batch_size()
        locator = self.locators.open(rows, size, query.sobject, query.fields) if len(rows) > size else None
        return self._page(store, rows, query.fields, 0, size, locator, version)

    def query_more(self, version: str, cursor: str) -> Response:
        locator, _, start = cursor.partition("-")
        rows, size, sobject, fields = self.locators.page(locator)
        if not start.isdigit():
            raise RequestError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(self.org.stores[sobject], rows, fields, int(start), size, locator, version)

    def limits(self, version: str) -> Response:
        maximum = self.config.daily_api_limit
        return jsonify(
            {
                "DailyApiRequests": {"Max": maximum, "Remaining": max(0, maximum - self.api_usage)},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
            }
        )


def _replication_date(text: str, name: str) -> datetime:
    """A getDeleted start or end: an ISO 8601 date-time, read to the minute (12:30:15 is 12:30:00 UTC)."""
    moment = parse_datetime(text) if text else None
    if moment is None:
        raise RequestError("INVALID_REPLICATION_DATE", f"{name} must be a date-time such as 2026-01-05T00:00:00+00:00")
    return moment.astimezone(UTC).replace(second=0, microsecond=0)
