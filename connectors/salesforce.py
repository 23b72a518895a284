"""Salesforce: Outbound Message webhooks, and the REST API (OAuth, collections, SOQL, describe)."""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import xml.etree.ElementTree as ET  # noqa: S405 (for the Element type; parsing goes through defusedxml)
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import defusedxml.ElementTree
import jwt
import requests
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from defusedxml import DefusedXmlException

from bridge.kernel.budget import Budget
from bridge.kernel.clock import Clock, iso, utcnow
from bridge.kernel.env import EnvReader
from bridge.kernel.errors import AuthError, ConnectorError, Permanent, Transient, WebhookInvalid, WebhookUnauthorized
from connectors._http import chunks, json_object, retry_after_seconds
from connectors._rest import Pair, RestConnector, failed
from connectors.base import (
    Change,
    FieldInfo,
    InboxEvent,
    UpsertResult,
    WebhookReply,
    WebhookRequest,
    compact_json,
    parse_event_time,
    poll_key,
)

log = logging.getLogger(__name__)

# REST API: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/
LOGIN_URL = "https://login.salesforce.com"
SANDBOX_AUDIENCE = "https://test.salesforce.com"
API_VERSION = "62.0"
MIN_API_VERSION = 46.0  # collections upsert arrived in v46.0
COLLECTION_SIZE = 200  # records per sObject Collections call
READ_CHUNK = 200  # ids per SOQL IN (...), well under the URI length limit
QUERY_BATCH = 2000  # the largest SOQL batch (Sforce-Query-Options: batchSize, 200 to 2,000)
RECYCLE_BIN_HORIZON = timedelta(days=15)  # how far back getDeleted can see
LOGIN_PATH = "/services/oauth2/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_SECONDS = 180  # Salesforce accepts exp at most 3 minutes ahead
USAGE_PAUSE = timedelta(hours=1)  # the daily allocation is a rolling 24 h: look again in an hour
# Record-level and request-level codes that may pass when sent again later; every other code fails the same way
# again.
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
RETRIABLE_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION"}
)
_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*")  # Field__c, Owner.Name
# Record and notification ids are 15 (case-sensitive) or 18 letters and digits, all ASCII: str.isalnum() would also
# take "００Q…" (full-width digits), which no Salesforce id holds and no API call would find.
# https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/field_types.htm#i1435616
_SF_ID = re.compile(r"[A-Za-z0-9]{1,18}")
_NOT_AN_ID = "is not a Salesforce id (up to 18 ASCII letters and digits)"
_NO_SUCH_COLUMN = re.compile(r"No such column '([^']+)'")
_USAGE = re.compile(r"(?:^|[,;\s])api-usage=(\d+)/(\d+)")
# error_description fragments of the token endpoint -> (setting to fix, what to do)
_LOGIN_HINTS = (
    ("client identifier invalid", "SALESFORCE_CLIENT_ID", "check SALESFORCE_CLIENT_ID"),
    ("invalid client credentials", "SALESFORCE_CLIENT_SECRET", "check SALESFORCE_CLIENT_SECRET"),
    (
        "hasn't approved",
        "SALESFORCE_USERNAME",
        "pre-authorize SALESFORCE_USERNAME for the app (admin-approved users or a permission set)",
    ),
    (
        "audience",
        "SALESFORCE_JWT_AUDIENCE",
        "check SALESFORCE_JWT_AUDIENCE (login. or test.salesforce.com)",
    ),
    (
        "invalid assertion",
        "SALESFORCE_PRIVATE_KEY_FILE",
        "the app's certificate does not match SALESFORCE_PRIVATE_KEY_FILE",
    ),
    ("expired", None, "the assertion arrived expired: check this machine's clock"),
    (
        "not supported on this domain",
        "SALESFORCE_LOGIN_URL",
        "the client-credentials flow needs your My Domain URL as SALESFORCE_LOGIN_URL",
    ),
    (
        "no client credentials user",
        "SALESFORCE_CLIENT_ID",
        "set a run-as user on the connected app",
    ),
    ("user", "SALESFORCE_USERNAME", "check SALESFORCE_USERNAME"),
)

# https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_wsdl.htm
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100
# Anything but exactly this answer makes Salesforce resend the whole message for 24 hours.
ACK_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body>"
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    "<Ack>true</Ack>"
    "</notificationsResponse>"
    "</soapenv:Body>"
    "</soapenv:Envelope>"
)
# Fields that say when the record last changed, newest first; they order a record's notifications.
_TIMESTAMP_FIELDS = ("SystemModstamp", "LastModifiedDate", "CreatedDate")
#: What Salesforce sets on every save: not a change anyone made.
_BOOKKEEPING = frozenset({"Id", *_TIMESTAMP_FIELDS, "LastModifiedById", "LastViewedDate", "LastReferencedDate"})


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _parse_xml(body: bytes) -> ET.Element:
    # SOAP forbids DTDs (SOAP 1.1 section 3): defusedxml refuses a DOCTYPE, an entity declaration or an
    # external reference wherever it stands and in whatever encoding, which rules out entity expansion.
    try:
        return defusedxml.ElementTree.fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise WebhookInvalid(
            "body", "contains a DOCTYPE or an entity declaration, which SOAP messages may not have"
        ) from None
    except ET.ParseError as error:
        raise WebhookInvalid("body", f"is not well-formed XML ({error})") from None
    except (LookupError, ValueError) as error:  # an encoding Python does not know, or a multi-byte one expat cannot use
        raise WebhookInvalid(
            "body", f"declares an encoding Bridge cannot read ({error}); Salesforce sends UTF-8"
        ) from None


def org_id_matches(configured: str, received: str) -> bool:
    """Compare 15- and 18-character org ids: the first 15 characters are the id."""
    return len(received) in (15, 18) and hmac.compare_digest(
        configured[:15].encode(), received[:15].encode()
    )


@dataclass(frozen=True)
class ApiSettings:
    """How to reach the REST API: a connected app with the JWT bearer or client-credentials flow."""

    client_id: str | None = None
    username: str | None = None
    private_key: bytes | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    login_url: str = LOGIN_URL
    jwt_audience: str = LOGIN_URL
    api_version: str = API_VERSION
    pause_at: float = 0.8
    auto_assign: bool = True

    @property
    def flow(self) -> str | None:
        if self.client_id and self.username and self.private_key:
            return "JWT bearer"
        if self.client_id and self.client_secret:
            return "client credentials"
        return None


class SalesforceConnector(RestConnector):
    name = "salesforce"
    auth_setting = "SALESFORCE_CLIENT_ID"
    batch_size = COLLECTION_SIZE
    settings_help = {
        "SALESFORCE_CLIENT_ID": "consumer key of the connected app (or external client app)",
        "SALESFORCE_USERNAME": "JWT bearer flow: the pre-authorized integration user",
        "SALESFORCE_PRIVATE_KEY_FILE": "JWT bearer flow: PEM private key of the app's certificate",
        "SALESFORCE_CLIENT_SECRET": "client-credentials flow: consumer secret (needs My Domain)",
        "SALESFORCE_LOGIN_URL": f"token endpoint host, e.g. My Domain [default: {LOGIN_URL}]",
        "SALESFORCE_JWT_AUDIENCE": "JWT aud claim [default: https://test.salesforce.com for "
        "sandbox "
        f"login URLs, else {LOGIN_URL}]",
        "SALESFORCE_API_VERSION": f"REST API version, 46.0 or later [default: {API_VERSION}]",
        "SALESFORCE_API_PAUSE_AT": "share of the daily API allocation to pause at [default: 0.8]",
        "SALESFORCE_AUTO_ASSIGN": "run lead assignment rules (Sforce-Auto-Assign) [default: true]",
        "SALESFORCE_ORG_ID": "your org id (15 or 18 characters); other orgs' messages are refused",
        "SALESFORCE_WEBHOOK_TOKEN": "secret appended to the outbound message URL as ?token=…",
    }

    def __init__(
        self,
        org_id: str | None,
        webhook_token: str | None,
        api: ApiSettings | None = None,
        *,
        clock: Clock = utcnow,
        budget: Budget | None = None,
    ):
        super().__init__(clock=clock, budget=budget)
        self.org_id = org_id
        self.webhook_token = webhook_token
        self.api = api or ApiSettings()
        self._session: tuple[str, str] | None = None  # (access token, instance URL)
        self._auth_lock = threading.Lock()
        #: (used, max) of the org's daily API requests, from the last Sforce-Limit-Info header.
        self.api_usage: tuple[int, int] | None = None

    @classmethod
    def from_env(
        cls, read: EnvReader, *, clock: Clock = utcnow, budget: Budget | None = None
    ) -> SalesforceConnector:
        org_id = read.text("SALESFORCE_ORG_ID")
        if org_id and (len(org_id) not in (15, 18) or not org_id.isalnum()):
            read.problems.append(
                f"SALESFORCE_ORG_ID={org_id!r} must be 15 or 18 letters and digits (Setup → Company Information)"
            )
        read.require_together("SALESFORCE_WEBHOOK_TOKEN", "SALESFORCE_ORG_ID")
        webhook_token = read.secret("SALESFORCE_WEBHOOK_TOKEN")
        return cls(org_id, webhook_token, _api_settings(read), clock=clock, budget=budget)

    # --- API -----------------------------------------------------------------------------

    def api_problem(self) -> str | None:
        if self.api.flow:
            return None
        return (
            "Salesforce API is not configured: set SALESFORCE_CLIENT_ID with SALESFORCE_USERNAME "
            "and SALESFORCE_PRIVATE_KEY_FILE (JWT bearer flow), or with SALESFORCE_CLIENT_SECRET "
            "(client-credentials flow)"
        )

    def check(self) -> str:
        next(self._query("SELECT Id FROM Lead LIMIT 1"), None)
        usage = f"; API requests today {self.api_usage[0]}/{self.api_usage[1]}" if self.api_usage else ""
        return f"{self.api.flow} login to {self.base_url()}; Lead readable{usage}"

    def read(
        self, object: str, ids: Sequence[str], fields: Sequence[str], id_field: str | None = None
    ) -> dict[str, dict[str, Any]]:
        key = id_field or "Id"
        wanted = {_match_key(key, str(i)): str(i) for i in ids}
        select = _names(object, key, *fields, "Id")
        found: dict[str, dict[str, Any]] = {}
        for batch in chunks(list(wanted.values()), READ_CHUNK):
            where = f"{key} IN ({', '.join(_soql_string(i) for i in batch)})"
            soql = f"SELECT {select} FROM {object} WHERE {where}"  # noqa: S608 (names checked, values quoted)
            for record in self._query(soql):
                match = _match_key(key, str(record.get(key)))
                found[wanted.get(match, str(record.get(key)))] = record
        return found

    def changed_since(self, object: str, since: datetime, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        select = _names(object, *fields, "Id", "SystemModstamp")
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # SystemModstamp also moves on system changes (roll-ups); getUpdated uses it too.
        # https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_getupdated.htm
        soql = f"SELECT {select} FROM {object} WHERE SystemModstamp >= {stamp}"  # noqa: S608 (checked names)
        yield from self._query(soql + " ORDER BY SystemModstamp")

    def scan(self, object: str, fields: Sequence[str], *, after: str | None = None) -> Iterator[dict[str, Any]]:
        select = _names(object, *fields, "Id")
        # Ids compare as text: "WHERE Id > last" resumes where ORDER BY Id stopped.
        where = f" WHERE Id > {_soql_string(after)}" if after else ""
        soql = f"SELECT {select} FROM {object}{where} ORDER BY Id"  # noqa: S608 (names checked, value quoted)
        # The largest batch a query may ask for (2,000 is also the default, but not guaranteed).
        # https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_queryoptions.htm
        yield from self._query(soql, headers={"Sforce-Query-Options": f"batchSize={QUERY_BATCH}"})

    def deleted_since(self, object: str, since: datetime, now: datetime) -> list[tuple[str, datetime]] | None:
        # getDeleted: the delete log behind the recycle bin, kept "no more than 15 days previous to the day the call
        # is executed"; start and end are read to the minute, and start must precede end by more than a minute. So
        # a deletion in now's own minute may come only with the next call: callers overlap `since` by a minute.
        # https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_getdeleted.htm
        # https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_getdeleted.htm
        if since < now - RECYCLE_BIN_HORIZON:
            return None
        start = min(_to_minute(since), _to_minute(now) - timedelta(minutes=2))
        params = {"start": _sf_datetime(start), "end": _sf_datetime(now)}
        _names(object)  # a plain API name, or Permanent before any call
        path = f"{self._data}/sobjects/{object}/deleted/"
        try:
            reply = self.request("GET", path, f"GET sobjects/{object}/deleted", params=params).json()
        except Permanent as error:
            # A purged log (INVALID_REPLICATION_DATE) or more than 600,000 ids (EXCEEDED_ID_LIMIT): only a full
            # id scan can tell what went.
            if error.code in ("INVALID_REPLICATION_DATE", "EXCEEDED_ID_LIMIT"):
                return None
            raise
        earliest = _sf_time(reply.get("earliestDateAvailable"))
        if earliest is not None and since < earliest:
            return None  # deletions before `earliest` were purged from the log
        deleted = ((str(r.get("id")), _sf_time(r.get("deletedDate"))) for r in reply.get("deletedRecords") or [])
        return [(record_id, when) for record_id, when in deleted if when is not None and when >= since]

    def change_fields(self, object: str) -> tuple[str | None, str | None]:
        return "LastModifiedDate", "LastModifiedById"

    def describe(self, object: str) -> dict[str, FieldInfo]:
        reply = self.request("GET", f"{self._data}/sobjects/{object}/describe", f"GET sobjects/{object}/describe")
        return {f["name"]: _field_info(f) for f in reply.json().get("fields", [])}

    @property
    def _data(self) -> str:
        return f"/services/data/v{self.api.api_version}"

    def upsert_batch(self, object: str, key_field: str, batch: Sequence[Pair]) -> list[UpsertResult]:
        # sObject Collections upsert: ≤200 records of one type, results in input order.
        # https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": object}, **record} for _, record in batch],
        }
        headers = {"Sforce-Auto-Assign": "TRUE" if self.api.auto_assign else "FALSE"}
        path = f"{self._data}/composite/sobjects/{object}/{key_field}"
        reply = self.request("PATCH", path, f"PATCH composite/sobjects/{object}", json=body, headers=headers).json()
        return [_outcome(key, item) for (key, _), item in zip(batch, reply, strict=True)]

    def create(self, object: str, records: Sequence[Mapping[str, Any]]) -> list[UpsertResult]:
        """Create records of one sObject (a Task for a lead's owner), 200 a call, each record on its own (allOrNone
        false): one result per record in input order, its key the record's position ("0", "1", …). A call refused as
        a whole raises when nothing was created yet; after earlier calls were, the rest come back failed with its
        error, so only they are sent again.
        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_create.htm"""
        _names(object)  # a plain API name, or Permanent before any call
        pairs = [(str(i), record) for i, record in enumerate(records)]
        results: list[UpsertResult] = []
        for batch in chunks(pairs, COLLECTION_SIZE):
            body = {"allOrNone": False,
                    "records": [{"attributes": {"type": object}, **record} for _, record in batch]}
            try:
                reply = self.request("POST", f"{self._data}/composite/sobjects", f"POST composite/sobjects {object}",
                                     json=body).json()
            except ConnectorError as error:
                if not results:
                    raise
                return results + [failed(key, error) for key, _ in pairs[len(results):]]
            # Create results carry no `created` flag: a success is a record created.
            results += [replace(outcome, outcome="created") if outcome.outcome == "updated" else outcome
                        for outcome in (_outcome(key, item) for (key, _), item in zip(batch, reply, strict=True))]
        return results

    def _query(self, soql: str, headers: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """SOQL results page by page, following nextRecordsUrl until done."""
        page = self.request("GET", f"{self._data}/query", "GET query", params={"q": soql}, headers=headers).json()
        while True:
            for record in page.get("records", []):
                record.pop("attributes", None)
                yield record
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            page = self.request("GET", page["nextRecordsUrl"], "GET query (next page)", headers=headers).json()

    # --- the request cycle's hooks -------------------------------------------------------------

    def base_url(self) -> str:
        # REST calls go to the instance the token names, whatever host issued it.
        return self._login()[1]

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._login()[0]}"}

    def reauthenticate(self, error: AuthError) -> bool:
        if error.code != "INVALID_SESSION_ID":
            return False
        self._session = None  # expired or revoked: log in again once and replay the request
        return True

    def _login(self) -> tuple[str, str]:
        with self._auth_lock:
            if self._session is None:
                url = self.api.login_url + LOGIN_PATH
                reply = self.send("POST", url, "POST oauth2/token", pool="auth", data=self._grant()).json()
                self._session = (reply["access_token"], reply["instance_url"].rstrip("/"))
            return self._session

    def _grant(self) -> dict[str, str]:
        # https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm
        if self.api.flow == "JWT bearer":
            claims = {
                "iss": self.api.client_id,
                "sub": self.api.username,
                "aud": self.api.jwt_audience,
                "exp": int(self.clock().timestamp()) + JWT_LIFETIME_SECONDS,
            }
            assertion = jwt.encode(claims, self.api.private_key, algorithm="RS256")
            return {"grant_type": JWT_GRANT, "assertion": assertion}
        return {
            "grant_type": "client_credentials",
            "client_id": self.api.client_id or "",
            "client_secret": self.api.client_secret or "",
        }

    def classify(self, response: requests.Response) -> ConnectorError:
        if response.request.path_url.endswith(LOGIN_PATH):
            return self._login_error(response)
        errors = _error_list(response)
        code = errors[0].get("errorCode") if errors else None
        message = "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for e in errors) or response.reason
        fields = tuple(f for e in errors for f in e.get("fields") or [])
        # INVALID_FIELD names the field only in its message: "No such column 'X' on sobject ...".
        fields += tuple(m for e in errors for m in _NO_SUCH_COLUMN.findall(str(e.get("message"))))
        status = response.status_code
        if status == 300:
            return Permanent(
                self.name,
                f"the external id matches several records ({urlsplit(response.url).path})",
                code="MULTIPLE_CHOICES",
                status=status,
            )
        if code == "REQUEST_LIMIT_EXCEEDED":
            # Too many concurrent long requests passes in seconds; the daily allocation does not.
            # https://developer.salesforce.com/docs/atlas.en-us.salesforce_app_limits_cheatsheet.meta/salesforce_app_limits_cheatsheet/salesforce_app_limits_platform_api.htm
            if "ConcurrentPerOrgLongTxn" in message:
                return Transient(self.name, message, code=code, status=status)
            return self.pause(self.clock() + USAGE_PAUSE, f"org API limit exceeded ({message})")
        if code in RETRIABLE_CODES and status != 429:  # a 429 is a rate limit whatever its code
            wait = retry_after_seconds(response, self.clock())
            return Transient(self.name, message, code=code, status=status, retry_after=wait)
        return self.http_error(response, message=message, code=code, fields=fields)

    def _login_error(self, response: requests.Response) -> ConnectorError:
        body = json_object(response)
        if response.status_code >= 500:
            return Transient(
                self.name, f"token endpoint answered HTTP {response.status_code}", status=response.status_code
            )
        error = str(body.get("error") or response.status_code)
        description = str(body.get("error_description") or "")
        setting, hint = next(
            ((s, h) for part, s, h in _LOGIN_HINTS if part in description.lower()),
            ("SALESFORCE_CLIENT_ID", "check the connected app and the login settings"),
        )
        return AuthError(
            self.name,
            f"{self.api.flow} login refused ({error}: {description}); {hint}",
            setting=setting,
            code=error,
            status=response.status_code,
        )

    def observe(self, response: requests.Response) -> None:
        """Pause before the org's daily allocation runs out: every other integration shares it."""
        # https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
        match = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if not match:
            return
        used, limit = int(match[1]), int(match[2])
        self.api_usage = (used, limit)
        if limit and used >= self.api.pause_at * limit and self.http.paused_until is None:
            self.pause(
                self.clock() + USAGE_PAUSE,
                f"org API usage {used}/{limit} reached SALESFORCE_API_PAUSE_AT={self.api.pause_at}",
            )

    # --- Webhooks ------------------------------------------------------------------------

    def webhook_problem(self) -> str | None:
        if not (self.webhook_token and self.org_id):
            return "Salesforce outbound messages are not configured: set SALESFORCE_WEBHOOK_TOKEN and SALESFORCE_ORG_ID"
        return None

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        token = request.query.get("token", "")
        if not hmac.compare_digest(token.encode(), (self.webhook_token or "").encode()):
            raise WebhookUnauthorized("missing or wrong ?token= in the outbound message URL")
        # The organisation id is inside the body: checked in parse_webhook, still as a 401.

    def parse_webhook(self, request: WebhookRequest, received_at: datetime) -> list[InboxEvent]:
        root = _parse_xml(request.body)
        notifications = next((e for e in root.iter() if _local(e.tag) == "notifications"), None)
        if notifications is None:
            raise WebhookInvalid("notifications", "missing: this is not a Salesforce outbound message")
        org = _child(notifications, "OrganizationId")
        if org is None or not (org.text or "").strip():
            raise WebhookInvalid("OrganizationId", "missing")
        if not org_id_matches(self.org_id or "", org.text.strip()):
            raise WebhookUnauthorized("OrganizationId does not match SALESFORCE_ORG_ID")
        action = _child(notifications, "ActionId")
        items = [c for c in notifications if _local(c.tag) == "Notification"]
        if not 1 <= len(items) <= MAX_NOTIFICATIONS:
            raise WebhookInvalid(
                "Notification", f"{len(items)} notifications; Salesforce sends 1 to {MAX_NOTIFICATIONS}"
            )
        return [self._event(item, index, org.text.strip(), action, received_at) for index, item in enumerate(items)]

    def _event(
        self, item: ET.Element, index: int, org_id: str, action: ET.Element | None, received_at: datetime
    ) -> InboxEvent:
        notification_id = (_child(item, "Id").text or "").strip() if _child(item, "Id") is not None else ""
        if not notification_id:
            raise WebhookInvalid(f"Notification[{index}].Id", "missing")
        if not _SF_ID.fullmatch(notification_id):
            raise WebhookInvalid(f"Notification[{index}].Id", _NOT_AN_ID)
        sobject = _child(item, "sObject")
        if sobject is None:
            raise WebhookInvalid(f"Notification[{index}].sObject", "missing")
        sobject_type = sobject.get(f"{{{XSI_NS}}}type", "").rpartition(":")[2]
        if not sobject_type:
            raise WebhookInvalid(f"Notification[{index}].sObject", "has no xsi:type naming the object")
        record = {_local(f.tag): None if f.get(f"{{{XSI_NS}}}nil") == "true" else (f.text or "") for f in sobject}
        if not record.get("Id"):
            raise WebhookInvalid(f"Notification[{index}].sObject.Id", "missing")
        if not _SF_ID.fullmatch(record["Id"]):
            raise WebhookInvalid(f"Notification[{index}].sObject.Id", _NOT_AN_ID)
        stamp = _last_change(record)
        at = f"Notification[{index}].sObject.{stamp}"
        occurred_at = parse_event_time(record[stamp], at) if stamp else received_at
        body = {
            "notificationId": notification_id,
            "organizationId": org_id,
            "actionId": action.text if action is not None else None,
            "sObjectType": sobject_type,
            "record": record,
        }
        return InboxEvent(
            source=self.name,
            event_type=f"{sobject_type}.outbound_message",
            dedupe_key=notification_id,
            record_key=self.record_key(sobject_type, record["Id"]),
            occurred_at=occurred_at,
            body=compact_json(body),
        )

    def change_of(self, event_type: str, body: str, occurred_at: datetime) -> Change:
        # An outbound message carries the record as it is when sent, not what changed.
        data = json.loads(body)
        record = data["record"]
        stamp = _last_change(record)
        # A record never edited since it was created has LastModifiedDate == CreatedDate.
        created = bool(record.get("CreatedDate")) and record.get("CreatedDate") == record.get("LastModifiedDate")
        return Change(
            system=self.name,
            object=data["sObjectType"],
            record_id=record["Id"],
            kind="created" if created else "updated",
            fields=record,
            snapshot=True,
            occurred_at=occurred_at,
            version=iso(parse_event_time(record[stamp], stamp)) if stamp else None,
            bookkeeping=_BOOKKEEPING,
        )

    def polled_event(self, object: str, record: Mapping[str, Any], received_at: datetime) -> InboxEvent | None:
        # An outbound message's body as `_event` makes it, with the record's values as the message spells them:
        # text, no nulls (Salesforce leaves a null field out), no compound or related values (a message cannot carry
        # them). https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_wsdl.htm
        values = {name: _soap_text(value) for name, value in record.items()
                  if value is not None and not isinstance(value, dict | list)}
        stamp = _last_change(values)
        if not values.get("Id") or stamp is None:
            return None
        key = poll_key(object, values["Id"], values[stamp])
        body = {"notificationId": key, "organizationId": self.org_id, "actionId": None, "sObjectType": object,
                "record": values}
        try:
            occurred_at = parse_event_time(values[stamp], stamp)
        except WebhookInvalid:
            occurred_at = received_at
        return InboxEvent(self.name, f"{object}.outbound_message", key, self.record_key(object, values["Id"]),
                          occurred_at, compact_json(body))

    def acknowledge(self, events: list[InboxEvent], new: int) -> WebhookReply:
        return WebhookReply(ACK_ENVELOPE, content_type="text/xml; charset=utf-8")


# A REST date-time (2026-11-20T03:00:00.000+0000): an outbound message writes the same instant with a Z.
_REST_UTC = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\+0000")


def _soap_text(value: Any) -> str:
    """A REST value as an outbound message spells it: true/false, numbers as text, date-times in UTC with a Z."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    match = _REST_UTC.fullmatch(text)
    return f"{match[1]}Z" if match else text


def _last_change(record: Mapping[str, Any]) -> str | None:
    """The record's newest timestamp field present (SystemModstamp first): what orders its notifications."""
    return next((name for name in _TIMESTAMP_FIELDS if record.get(name)), None)


def _api_settings(read: EnvReader) -> ApiSettings:
    client_id = read.text("SALESFORCE_CLIENT_ID")
    username = read.text("SALESFORCE_USERNAME")
    key_file = read.text("SALESFORCE_PRIVATE_KEY_FILE")
    client_secret = read.text("SALESFORCE_CLIENT_SECRET")
    login_url = (read.url("SALESFORCE_LOGIN_URL", LOGIN_URL) or LOGIN_URL).rstrip("/")
    host = urlsplit(login_url).hostname or ""
    # SALESFORCE_USERNAME alone beside a client secret is harmless: client credentials ignore it.
    if key_file and not username:
        read.problems.append(
            "SALESFORCE_PRIVATE_KEY_FILE is set, so SALESFORCE_USERNAME must be too"
        )
    if username and not (key_file or client_secret):
        read.problems.append(
            "SALESFORCE_USERNAME is set: add SALESFORCE_PRIVATE_KEY_FILE for the JWT bearer flow"
        )
    if key_file and client_secret:
        read.problems.append(
            "set SALESFORCE_PRIVATE_KEY_FILE (JWT bearer) or SALESFORCE_CLIENT_SECRET "
            "(client credentials), not both"
        )
    if (username or key_file or client_secret) and not client_id:
        read.problems.append(
            "SALESFORCE_CLIENT_ID (the app's consumer key) must be set for API access"
        )
    if client_id and not (username or key_file or client_secret):
        read.problems.append(
            "SALESFORCE_CLIENT_ID is set: add SALESFORCE_USERNAME and "
            "SALESFORCE_PRIVATE_KEY_FILE (JWT bearer) or SALESFORCE_CLIENT_SECRET"
        )
    if client_secret and host in ("login.salesforce.com", "test.salesforce.com"):
        read.problems.append(
            "the client-credentials flow needs your My Domain URL as SALESFORCE_LOGIN_URL "
            "(https://<my-domain>.my.salesforce.com)"
        )
    # aud must name login or test, whatever host issues the token (My Domain included).
    sandbox = host == "test.salesforce.com" or "--" in host or ".sandbox." in host
    version = read.text("SALESFORCE_API_VERSION", API_VERSION) or API_VERSION
    if not re.fullmatch(r"\d{2,3}\.0", version) or float(version) < MIN_API_VERSION:
        read.problems.append(
            f"SALESFORCE_API_VERSION={version!r} must look like {API_VERSION} and be at "
            f"least {MIN_API_VERSION}"
        )
        version = API_VERSION
    pause_at = read.number("SALESFORCE_API_PAUSE_AT", 0.8, minimum=0.01)
    if pause_at > 1:
        read.problems.append(
            f"SALESFORCE_API_PAUSE_AT={pause_at} is a share of the daily limit: between 0.01 and 1"
        )
        pause_at = 0.8
    return ApiSettings(
        client_id=client_id,
        username=username,
        private_key=_private_key(read, key_file) if key_file else None,
        client_secret=client_secret,
        login_url=login_url,
        jwt_audience=read.url("SALESFORCE_JWT_AUDIENCE", SANDBOX_AUDIENCE if sandbox else LOGIN_URL)
        or LOGIN_URL,
        api_version=version,
        pause_at=pause_at,
        auto_assign=read.flag("SALESFORCE_AUTO_ASSIGN", True),
    )


def _private_key(read: EnvReader, path: str) -> bytes | None:
    """The PEM key, checked now so a bad file is reported at start-up (its content never is)."""
    try:
        pem = Path(path).read_bytes()
        load_pem_private_key(pem, password=None)
    except OSError as error:
        read.problems.append(
            f"SALESFORCE_PRIVATE_KEY_FILE={path}: cannot read it ({error.strerror})"
        )
        return None
    except (ValueError, TypeError):
        read.problems.append(
            f"SALESFORCE_PRIVATE_KEY_FILE={path} is not an unencrypted PEM private key"
        )
        return None
    return pem


def _names(object: str, *fields: str) -> str:
    """The SELECT list, after checking that the object and field names are plain API names."""
    bad = [n for n in (object, *fields) if not _API_NAME.fullmatch(n)]
    if bad:
        raise Permanent(
            "salesforce", f"not Salesforce API names: {', '.join(bad)}", fields=tuple(bad)
        )
    return ", ".join(sorted(set(fields)))


def _to_minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _sf_datetime(moment: datetime) -> str:
    """A UTC date-time as getDeleted's start and end take it: 2026-11-20T03:00:00+00:00."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _sf_time(value: Any) -> datetime | None:
    """A REST date-time (2026-11-20T03:00:00.000+0000) as an aware datetime; None when absent or unreadable."""
    text = str(value or "")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"  # +0000 -> +00:00, which fromisoformat reads in every version
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _soql_string(value: str) -> str:
    """A SOQL string literal: backslash and single quote escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _match_key(key: str, value: str) -> str:
    # Record ids come back in their 18-character form; the first 15 characters identify the record.
    return value[:15] if key == "Id" else value


def _error_list(response: requests.Response) -> list[dict[str, Any]]:
    """REST errors are a JSON array of {errorCode, message, fields}."""
    try:
        body = response.json()
    except ValueError:
        return []
    items = body if isinstance(body, list) else [body]
    return [e for e in items if isinstance(e, dict)]


def _outcome(key: str, item: Mapping[str, Any]) -> UpsertResult:
    if item.get("success"):
        return UpsertResult(key, "created" if item.get("created") else "updated", id=item.get("id"))
    # Inside collection results the code is `statusCode`, not `errorCode`.
    errors = [e for e in item.get("errors") or [] if isinstance(e, dict)]
    code = str(errors[0].get("statusCode")) if errors else "UNKNOWN"
    return UpsertResult(
        key=key,
        outcome="failed",
        id=item.get("id"),
        category="retriable" if code in RETRIABLE_CODES else "permanent",
        code=code,
        message="; ".join(str(e.get("message")) for e in errors),
        fields=tuple(f for e in errors for f in e.get("fields") or []),
    )


_TYPES = {
    "textarea": "text",
    "double": "number",
    "currency": "number",
    "int": "number",
    "percent": "number",
    "long": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "picklist": "enumeration",
    "multipicklist": "enumeration",
    "email": "email",
    "phone": "phone",
    "id": "id",
    "reference": "id",
}


def _field_info(field_: Mapping[str, Any]) -> FieldInfo:
    return FieldInfo(
        name=field_["name"],
        type=_TYPES.get(field_.get("type", ""), "string"),
        # Required on create: not nillable, and no default the platform fills in.
        required=bool(
            field_.get("createable")
            and not field_.get("nillable")
            and not field_.get("defaultedOnCreate")
        ),
        unique=bool(field_.get("unique")) or field_.get("type") == "id",
        options=tuple(
            p["value"] for p in field_.get("picklistValues") or [] if p.get("active", True)
        ),
        label=field_.get("label"),
    )
