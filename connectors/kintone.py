"""kintone: token-checked webhooks (kintone does not sign them), and the REST API of one domain."""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import requests
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from bridge.kernel.budget import Budget, Limit
from bridge.kernel.clock import Clock, utcnow
from bridge.kernel.env import EnvReader
from bridge.kernel.errors import (
    AuthError,
    ConnectorError,
    Permanent,
    RateLimited,
    WebhookForbidden,
    WebhookInvalid,
    WebhookUnauthorized,
)
from connectors._http import chunks, json_object
from connectors._rest import Pair, RestConnector, failed
from connectors.base import (
    Change,
    FieldInfo,
    InboxEvent,
    UpsertResult,
    WebhookRequest,
    compact_json,
    load_schema,
    parse_event_time,
    parse_json,
    poll_key,
    shown,
)

log = logging.getLogger(__name__)

# REST API limits: https://kintone.dev/en/docs/kintone/overview/restrictions/
BATCH_SIZE = 100  # records per write, and ids per read query
READ_PAGE = 500  # records per read
MAX_QUERY_LENGTH = 4000  # the URL limit is about 4,096 characters; longer reads use a POST override
MAX_CONFLICT_RETRIES = 2
# https://cybozu.dev/ja/kintone/docs/rest-api/records/add-comment/
MAX_COMMENT, MAX_MENTIONS = 65_535, 10  # characters of a record comment; people it may mention
AUTH_CODES = frozenset({"GAIA_IA02", "CB_WA01", "GAIA_NO01", "CB_AU01"})  # bad or missing API token
# records[3].email.value (POST) or records[3].record.email.value (PUT)
_RECORD_KEY = re.compile(r"records\[(\d+)\]\.(?:record\.)?([^.\[]+)")

# https://jp.cybozu.help/k/ja/app/process/set_webhook/webhook_notification.html
EVENT_TYPES = (
    "ADD_RECORD",
    "UPDATE_RECORD",
    "DELETE_RECORD",
    "UPDATE_STATUS",
    "ADD_RECORD_COMMENT",
)
_WITH_RECORD = ("ADD_RECORD", "UPDATE_RECORD", "UPDATE_STATUS")
_KINDS = {"ADD_RECORD": "created", "UPDATE_RECORD": "updated", "DELETE_RECORD": "deleted",
          "UPDATE_STATUS": "status", "ADD_RECORD_COMMENT": "comment"}
_NUMERIC_ID = re.compile(r"[0-9]{1,20}")  # ASCII digits only: "²".isdigit() is true, and "7\n" matches ^\d+$


class AppSchema(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String(
        required=True, validate=validate.Regexp(_NUMERIC_ID, error="must be a numeric app id")
    )
    name = fields.String(allow_none=True)


class NotificationSchema(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1))
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    app = fields.Nested(AppSchema, required=True)
    record = fields.Dict(keys=fields.String())
    recordId = fields.String()  # noqa: N815 (kintone's field name)
    recordTitle = fields.String(allow_none=True)  # noqa: N815
    url = fields.String(allow_none=True)

    @validates_schema
    def check_record(self, data, **kwargs):
        if data["type"] in _WITH_RECORD:
            record = data.get("record")
            if record is None:
                raise ValidationError(f"required for {data['type']}", "record")
            if (
                not isinstance(record.get("$id"), dict)
                or not _NUMERIC_ID.fullmatch(str(record["$id"].get("value", "")))
            ):
                raise ValidationError("missing or not a record id", "record.$id")
        elif not _NUMERIC_ID.fullmatch(str(data.get("recordId", ""))):
            raise ValidationError(
                f"required for {data['type']} and must be a record id", "recordId"
            )


_SCHEMA = NotificationSchema()


def _field_of_type(record: dict, field_type: str) -> tuple[str, Any] | None:
    """(code, value) of the record's first field of `field_type`, e.g. its UPDATED_TIME field."""
    return next(
        (
            (code, f.get("value"))
            for code, f in record.items()
            if isinstance(f, dict) and f.get("type") == field_type
        ),
        None,
    )


class RecordsRejected(Permanent):
    """CB_VA01 naming records of a batch: index -> [(field, message)]; nothing was written."""

    def __init__(self, connector: str, message: str, problems: dict[int, list[tuple[str, str]]]):
        self.problems = problems
        fields_ = tuple(dict.fromkeys(f for items in problems.values() for f, _ in items))
        super().__init__(connector, message, fields=fields_, code="CB_VA01", status=400)


@dataclass(frozen=True)
class ApiSettings:
    """How to reach the REST API: the domain, API tokens (comma-joined) and the default app."""

    base_url: str | None = None
    api_token: str | None = field(default=None, repr=False)
    app_id: str | None = None
    max_concurrency: int = 4
    daily_limit: int = 10_000


class KintoneConnector(RestConnector):
    name = "kintone"
    auth_setting = "KINTONE_API_TOKEN"
    batch_size = BATCH_SIZE
    settings_help = {
        "KINTONE_BASE_URL": "https://<subdomain>.cybozu.com (or the sandbox URL)",
        "KINTONE_API_TOKEN": "API token of the app; several comma-joined when lookups span apps",
        "KINTONE_APP_ID": "the app records are read from and written to",
        "KINTONE_MAX_CONCURRENCY": "concurrent requests of this process (100 per domain in all) [default: 4]",
        "KINTONE_DAILY_LIMIT": "requests per app and day: a warning at 90 %, none past it until 9:00 JST "
        "[default: 10000]",
        "KINTONE_WEBHOOK_TOKEN": "secret appended to the webhook URL as ?token=…",
        "KINTONE_APP_IDS": "comma-separated app ids whose webhooks are accepted",
    }

    def __init__(
        self,
        webhook_token: str | None,
        app_ids: frozenset[str],
        api: ApiSettings | None = None,
        *,
        clock: Clock = utcnow,
        budget: Budget | None = None,
    ):
        super().__init__(clock=clock, budget=budget)
        self.webhook_token = webhook_token
        self.app_ids = app_ids
        self.api = api or ApiSettings()
        self._slots = threading.BoundedSemaphore(self.api.max_concurrency)
        # The per-app counter resets at 9:00 JST, which is 00:00 UTC: a fixed daily window.
        self._daily = Limit(self.api.daily_limit, 86_400, fixed=True)
        self._field_types: dict[str, dict[str, str]] = {}  # app -> field code -> its type, from the app's form
        self._processes: dict[str, list[dict[str, Any]]] = {}  # app -> its process actions

    @classmethod
    def from_env(cls, read: EnvReader, *, clock: Clock = utcnow, budget: Budget | None = None) -> KintoneConnector:
        read.require_together("KINTONE_WEBHOOK_TOKEN", "KINTONE_APP_IDS")
        read.require_together("KINTONE_BASE_URL", "KINTONE_API_TOKEN", "KINTONE_APP_ID")
        app_id = read.text("KINTONE_APP_ID")
        if app_id and not app_id.isdigit():
            read.problems.append(f"KINTONE_APP_ID={app_id!r} must be the numeric app id (…/k/<id>/ in the URL)")
        token = read.text("KINTONE_API_TOKEN")
        api = ApiSettings(
            base_url=(read.url("KINTONE_BASE_URL") or "").rstrip("/") or None,
            api_token=",".join(t.strip() for t in token.split(",") if t.strip()) if token else None,
            app_id=app_id,
            max_concurrency=read.integer("KINTONE_MAX_CONCURRENCY", 4, minimum=1, maximum=100),
            daily_limit=read.integer("KINTONE_DAILY_LIMIT", 10_000, minimum=1),
        )
        webhook_token = read.secret("KINTONE_WEBHOOK_TOKEN")
        return cls(webhook_token, read.id_list("KINTONE_APP_IDS"), api, clock=clock, budget=budget)

    # --- API -----------------------------------------------------------------------------

    def api_problem(self) -> str | None:
        missing = [
            name
            for name, value in (
                ("KINTONE_BASE_URL", self.api.base_url),
                ("KINTONE_API_TOKEN", self.api.api_token),
                ("KINTONE_APP_ID", self.api.app_id),
            )
            if not value
        ]
        return f"kintone API is not configured: set {', '.join(missing)}" if missing else None

    def check(self) -> str:
        app = self.api.app_id or ""
        self._records(app, "limit 1", ["$id"])
        return f"API token accepted; app {app} records readable at {self.api.base_url}"

    def read(
        self, object: str, ids: Sequence[str], fields: Sequence[str], id_field: str | None = None
    ) -> dict[str, dict[str, Any]]:
        key = id_field or "$id"
        found: dict[str, dict[str, Any]] = {}
        for batch in chunks(list(dict.fromkeys(str(i) for i in ids)), BATCH_SIZE):
            query = f"{key} in ({', '.join(_quote(i) for i in batch)}) limit {READ_PAGE}"
            for record in self._records(object, query, _with_ids(fields, key)):
                found[str(record[key])] = record
        return found

    def changed_since(self, object: str, since: datetime, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        # Seek pagination ($id > last, order by $id) instead of offset (capped at 10,000) or cursors
        # (10 per domain, shared with other integrations, expire after 10 minutes).
        # https://kintone.dev/en/docs/kintone/rest-api/records/get-records/
        stamp_field = self._stamp_field(object)
        # kintone keeps date-times to the minute (a save at 10:30:45 reads 10:30:00): compare from
        # the start of `since`'s minute, or records saved later in that minute are never found.
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:00Z")
        last_id = 0
        while True:
            query = f'{stamp_field} >= "{stamp}" and $id > {last_id} order by $id asc limit {READ_PAGE}'
            page = self._records(object, query, _with_ids(fields, stamp_field))
            yield from page
            if len(page) < READ_PAGE:
                return
            last_id = int(page[-1]["$id"])

    def scan(self, object: str, fields: Sequence[str], *, after: str | None = None) -> Iterator[dict[str, Any]]:
        # Seek pagination ($id > last, order by $id asc, 500 a page) is what kintone recommends for reading every
        # record: offset stops at 10,000, and cursors are 10 per domain (shared with every other integration)
        # and expire after 10 idle minutes. https://kintone.dev/en/docs/kintone/rest-api/records/get-records/
        # The first page asks for the total count, so the scan stops on the last full page without asking again.
        last, remaining, first = int(after or 0), None, True
        while True:
            query = f"$id > {last} order by $id asc limit {READ_PAGE}"
            page, total = self._page(object, query, _with_ids(fields), count=first)
            if first:
                remaining, first = total, False
            yield from page
            if remaining is not None:
                remaining -= len(page)
            if len(page) < READ_PAGE or (remaining is not None and remaining <= 0):
                return
            last = int(page[-1]["$id"])

    def change_fields(self, object: str) -> tuple[str | None, str | None]:
        return self._system_field(object, "UPDATED_TIME"), self._system_field(object, "MODIFIER")

    def describe(self, object: str) -> dict[str, FieldInfo]:
        return {code: _field_info(code, prop) for code, prop in self._form_fields(object).items()}

    def _form_fields(self, app: str) -> dict[str, Any]:
        path = "/k/v1/app/form/fields.json"
        reply = self.request("GET", path, "GET app/form/fields", pool=_pool(app), params={"app": app}).json()
        return reply.get("properties", {})

    def _stamp_field(self, app: str) -> str:
        """The code of the app's UPDATED_TIME field: its name differs per app and language."""
        code = self._system_field(app, "UPDATED_TIME")
        if code is None:
            raise Permanent(self.name, f"app {app} has no updated-time field to find changes by")
        return code

    def _system_field(self, app: str, field_type: str) -> str | None:
        """The code of the app's field of a system type (UPDATED_TIME, MODIFIER…), read from its form once."""
        return next((code for code, kind in self._types_of(app).items() if kind == field_type), None)

    def _types_of(self, app: str) -> dict[str, str]:
        """Field code -> type of the app's form fields, read once."""
        if app not in self._field_types:
            self._field_types[app] = {code: str(prop.get("type")) for code, prop in self._form_fields(app).items()}
        return self._field_types[app]

    def status_field(self, object: str) -> str | None:
        return self._system_field(object, "STATUS")

    def move_statuses(self, object: str, key_field: str, moves: Sequence[tuple[str, str]]) -> list[UpsertResult]:
        """Move each record (by its key) to a status by the process action that leads there from its current one:
        one read of the records and PUT records/status.json, 100 a call (a status is never written as a field).
        A record with no such action fails, naming both statuses, so a person can add the action.
        https://cybozu.dev/ja/kintone/docs/rest-api/records/update-statuses/"""
        status_field = self.status_field(object)
        if status_field is None:
            raise Permanent(self.name, f"app {object} has no process management: there is no status to move")
        results: dict[int, UpsertResult] = {}
        calls: list[tuple[int, dict[str, Any]]] = []
        current = self.read(object, [key for key, _ in moves], [status_field], id_field=key_field)
        actions = self._actions(object)
        for i, (key, target) in enumerate(moves):
            record = current.get(key)
            if record is None:
                results[i] = UpsertResult(key, "failed", category="permanent", code="GAIA_RE20",
                                          message=f"no record of app {object} has {key_field} {key}")
                continue
            status, record_id = record.get(status_field), str(record["$id"])
            if status == target:
                results[i] = UpsertResult(key, "updated", id=record_id)
                continue
            action = next((a["name"] for a in actions if a.get("from") == status and a.get("to") == target), None)
            if action is None:
                self._processes.pop(object, None)  # read the process again next time: a person may add the action
                results[i] = UpsertResult(
                    key, "failed", id=record_id, category="permanent", code="NO_PROCESS_ACTION",
                    message=f"app {object} has no process action from 「{status}」 to 「{target}」: add one in the "
                    "app's process management settings (プロセス管理の設定でアクションを追加してください), then replay",
                    fields=(status_field,),
                )
                continue
            calls.append((i, {"id": record_id, "action": action}))
        for chunk in chunks(calls, BATCH_SIZE):
            try:
                self.request("PUT", "/k/v1/records/status.json", "PUT records/status", pool=_pool(object),
                             json={"app": object, "records": [entry for _, entry in chunk]})
            except ConnectorError as error:  # all or nothing: none of the chunk moved
                for i, _ in chunk:
                    results[i] = failed(moves[i][0], error)
                continue
            for i, entry in chunk:
                results[i] = UpsertResult(moves[i][0], "updated", id=entry["id"])
        return [results[i] for i in range(len(moves))]

    def add_comment(self, app: str, record_id: str, text: str, mentions: Sequence[str] = ()) -> str:
        """Post a comment on one record, mentioning the users whose codes are given (the first MAX_MENTIONS); the
        new comment's id. kintone takes one comment per call, of up to MAX_COMMENT characters.
        https://cybozu.dev/ja/kintone/docs/rest-api/records/add-comment/"""
        if len(text) > MAX_COMMENT:
            text = text[: MAX_COMMENT - 1] + "…"
        comment: dict[str, Any] = {"text": text}
        if mentions:
            codes = list(dict.fromkeys(mentions))[:MAX_MENTIONS]
            comment["mentions"] = [{"code": code, "type": "USER"} for code in codes]
        reply = self.request("POST", "/k/v1/record/comment.json", "POST record/comment", pool=_pool(app),
                             json={"app": app, "record": record_id, "comment": comment}).json()
        return str(reply.get("id"))

    def _actions(self, app: str) -> list[dict[str, Any]]:
        """The app's process actions ({name, from, to}), read once (again after one was found missing).
        https://cybozu.dev/ja/kintone/docs/rest-api/apps/settings/get-process-management/"""
        if app not in self._processes:
            reply = self.request("GET", "/k/v1/app/status.json", "GET app/status", pool=_pool(app),
                                 params={"app": app}).json()
            self._processes[app] = list(reply.get("actions") or [])
        return self._processes[app]

    def upsert_batch(self, app: str, key_field: str, batch: Sequence[Pair]) -> list[UpsertResult]:
        """PUT one batch of ≤100. kintone writes all or nothing, so records it names as invalid are taken out
        and the rest sent again; a revision conflict re-reads revisions and sends again (at most
        MAX_CONFLICT_RETRIES times). Both are answers to act on at once, not failures to wait out."""
        by_id = key_field == "$id"  # $id cannot be an updateKey: update by record id instead
        results: dict[int, UpsertResult] = {}
        revisions = {i: str(r["$revision"]) for i, (_, r) in enumerate(batch) if r.get("$revision")}
        pending = list(range(len(batch)))
        conflicts = 0
        while pending:
            entries = [_entry(key_field, *batch[i], revisions.get(i), by_id) for i in pending]
            body: dict[str, Any] = {"app": app, "records": entries, **({} if by_id else {"upsert": True})}
            try:
                reply = self.request("PUT", "/k/v1/records.json", "PUT records", pool=_pool(app), json=body).json()
            except RecordsRejected as error:
                named = [p for p in error.problems if p < len(pending)]
                if not named:
                    return self._stopped(batch, results, pending, error)
                for position in named:
                    index, problems = pending[position], error.problems[position]
                    results[index] = UpsertResult(
                        batch[index][0],
                        "failed",
                        category="permanent",
                        code=error.code,
                        message="; ".join(f"{f}: {m}" for f, m in problems),
                        fields=tuple(dict.fromkeys(f for f, _ in problems)),
                    )
                pending = [i for i in pending if i not in results]
                continue
            except ConnectorError as error:
                if error.code != "GAIA_CO02":
                    return self._stopped(batch, results, pending, error)
                if conflicts == MAX_CONFLICT_RETRIES:
                    # Still racing another writer: hand the records back for a later attempt.
                    for i in pending:
                        results[i] = UpsertResult(
                            batch[i][0], "failed", category="retriable", code=error.code, message=error.message
                        )
                    break
                # Someone saved a record since its revision was read: take the current revisions and apply our
                # fields on top (kintone keeps the fields we do not send).
                # https://kintone.dev/en/docs/kintone/rest-api/records/update-records/
                conflicts += 1
                keys = [batch[i][0] for i in pending if i in revisions]
                try:
                    current = self.read(app, keys, ["$revision"], id_field=key_field)
                except ConnectorError as read_error:
                    return self._stopped(batch, results, pending, read_error)
                for i in pending:
                    if i in revisions and batch[i][0] in current:
                        revisions[i] = str(current[batch[i][0]]["$revision"])
                continue
            for index, item in zip(pending, reply.get("records", []), strict=True):
                created = item.get("operation") == "INSERT"
                results[index] = UpsertResult(
                    batch[index][0], "created" if created else "updated", id=str(item.get("id"))
                )
            pending = []
        return [results[i] for i in range(len(batch))]

    @staticmethod
    def _stopped(
        batch: Sequence[Pair], results: dict[int, UpsertResult], pending: list[int], error: ConnectorError
    ) -> list[UpsertResult]:
        """A call of the batch failed as a whole: raise when nothing is decided yet, else keep what is (records
        named invalid) and hand the pending records back with the error."""
        if not results:
            raise error
        for i in pending:
            results[i] = failed(batch[i][0], error)
        return [results[i] for i in range(len(batch))]

    def _records(self, app: str, query: str, fields: Sequence[str]) -> list[dict[str, Any]]:
        return self._page(app, query, fields)[0]

    def _page(
        self, app: str, query: str, fields: Sequence[str], count: bool = False
    ) -> tuple[list[dict[str, Any]], int | None]:
        """One GET records call: the records, and with `count` the query's total count (else None)."""
        params: dict[str, Any] = {"app": app, "query": query}
        params.update({f"fields[{i}]": f for i, f in enumerate(fields)})
        if count:
            params["totalCount"] = "true"
        if len(urlencode(params)) <= MAX_QUERY_LENGTH:
            response = self.request("GET", "/k/v1/records.json", "GET records", pool=_pool(app), params=params)
        else:
            # Long queries go in a POST body that kintone treats as GET.
            # https://kintone.dev/en/docs/kintone/rest-api/overview/kintone-rest-api-overview/
            body: dict[str, Any] = {"app": app, "query": query, "fields": list(fields)}
            if count:
                body["totalCount"] = True
            response = self.request(
                "POST",
                "/k/v1/records.json",
                "GET records (override)",
                pool=_pool(app),
                json=body,
                headers={"X-HTTP-Method-Override": "GET"},
            )
        warning = response.headers.get("X-Cybozu-Warning")
        if warning:
            log.warning("kintone app %s: %s: results may be incomplete", app, warning)
        reply = response.json()
        total = reply.get("totalCount")
        return [_plain(record) for record in reply.get("records", [])], int(total) if count and total else None

    # --- the request cycle's hooks -------------------------------------------------------------

    def request(self, method: str, path: str, endpoint: str, **kwargs: Any) -> requests.Response:
        # Other integrations share the domain's 100 concurrent requests: take a slot of our share, never wait
        # for one. https://kintone.dev/en/docs/kintone/overview/restrictions/
        if not self._slots.acquire(blocking=False):
            raise RateLimited(
                self.name,
                f"{endpoint}: all {self.api.max_concurrency} request slots are in use (KINTONE_MAX_CONCURRENCY)",
                retry_after=1.0,
            )
        try:
            return super().request(method, path, endpoint, **kwargs)
        finally:
            self._slots.release()

    def base_url(self) -> str:
        return self.api.base_url or ""

    def auth_headers(self) -> dict[str, str]:
        return {"X-Cybozu-API-Token": self.api.api_token or ""}

    def limit(self, pool: str) -> Limit | None:
        return self._daily if pool.startswith("app ") else None

    def classify(self, response: requests.Response) -> ConnectorError:
        body = json_object(response)
        code = body.get("code")
        message = f"{code}: {body.get('message') or response.reason}" if code else response.reason
        problems = _problems(body.get("errors"))
        status = response.status_code
        if code in AUTH_CODES:
            return AuthError(
                self.name,
                f"API token rejected ({message}); check KINTONE_API_TOKEN",
                setting="KINTONE_API_TOKEN",
                code=code,
                status=status,
            )
        if code == "CB_NO02":
            return AuthError(
                self.name,
                f"no permission ({message}): give the API token the view, add and edit permissions it needs",
                setting="KINTONE_API_TOKEN",
                code=code,
                status=status,
            )
        by_record = {i: items for i, items in problems.items() if i is not None}
        if code == "CB_VA01" and by_record:
            return RecordsRejected(self.name, message, by_record)
        fields_ = tuple(dict.fromkeys(f for items in problems.values() for f, _ in items))
        return self.http_error(response, message=message, code=code, fields=fields_)

    # --- Webhooks ------------------------------------------------------------------------

    def webhook_problem(self) -> str | None:
        if not (self.webhook_token and self.app_ids):
            return "kintone webhooks are not configured: set KINTONE_WEBHOOK_TOKEN and KINTONE_APP_IDS"
        return None

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        token = request.query.get("token", "")
        if not hmac.compare_digest(token.encode(), (self.webhook_token or "").encode()):
            raise WebhookUnauthorized("missing or wrong ?token= in the kintone webhook URL")

    def parse_webhook(self, request: WebhookRequest, received_at: datetime) -> list[InboxEvent]:
        data = parse_json(request.body)
        if not isinstance(data, dict):
            raise WebhookInvalid("body", "must be a JSON object")
        app_id = str((data.get("app") or {}).get("id", "")) if isinstance(data.get("app"), dict) else ""
        if app_id and app_id not in self.app_ids:
            raise WebhookForbidden(
                f"app {shown(app_id[:40])} is not in KINTONE_APP_IDS; add it there to accept its webhooks"
            )
        note = load_schema(_SCHEMA, data, "")
        record = note.get("record") or {}
        record_id = record["$id"]["value"] if record else note["recordId"]
        # Order a record's notifications by its update time when the payload has one.
        updated = _field_of_type(record, "UPDATED_TIME")
        if updated and updated[1]:
            occurred_at = parse_event_time(updated[1], f"record.{shown(updated[0])}.value")
        elif data.get("deletedAt"):
            occurred_at = parse_event_time(data["deletedAt"], "deletedAt")
        else:
            occurred_at = received_at
        return [
            InboxEvent(
                source=self.name,
                event_type=note["type"],
                dedupe_key=note["id"],
                record_key=self.record_key(app_id, record_id),
                occurred_at=occurred_at,
                body=compact_json(data),
            )
        ]

    def change_of(self, event_type: str, body: str, occurred_at: datetime) -> Change:
        data = json.loads(body)
        record = data.get("record") or {}
        revision = str((record.get("$revision") or {}).get("value", ""))
        return Change(
            system=self.name,
            object=str(data["app"]["id"]),
            record_id=str(record["$id"]["value"] if record else data["recordId"]),
            kind=_KINDS[event_type],
            fields=_plain(record),
            snapshot=bool(record),  # added, edited and status notifications carry the whole record
            occurred_at=occurred_at,
            version=f"{int(revision):020d}" if _NUMERIC_ID.fullmatch(revision) else None,
            bookkeeping=_bookkeeping(record),
        )

    def polled_event(self, object: str, record: Mapping[str, Any], received_at: datetime) -> InboxEvent | None:
        # The webhook's shape rebuilt: the REST API and webhooks give a field the same value, and the webhook's
        # field types (which `change_of` tells bookkeeping fields by) come from the app's form, read once.
        # https://jp.cybozu.help/k/ja/app/process/set_webhook/webhook_notification.html
        record_id, revision = str(record.get("$id", "")), str(record.get("$revision", ""))
        if not (_NUMERIC_ID.fullmatch(record_id) and _NUMERIC_ID.fullmatch(revision)):
            return None
        types = {**self._types_of(object), "$id": "__ID__", "$revision": "__REVISION__"}
        typed = {code: {"type": types[code], "value": value} if code in types else {"value": value}
                 for code, value in record.items()}
        key = poll_key(object, record_id, revision)
        kind = "ADD_RECORD" if revision == "1" else "UPDATE_RECORD"  # a new record is at revision 1
        data = {"id": key, "type": kind, "app": {"id": object}, "record": typed}
        updated = _field_of_type(typed, "UPDATED_TIME")
        try:
            occurred_at = parse_event_time(updated[1], "UPDATED_TIME") if updated and updated[1] else received_at
        except WebhookInvalid:
            occurred_at = received_at
        return InboxEvent(self.name, kind, key, self.record_key(object, record_id), occurred_at, compact_json(data))

    def record_key(self, object: str, record_id: str) -> str:
        return f"app{object}:{record_id}"

    def parse_record_key(self, key: str) -> tuple[str, str]:
        app, _, record_id = key.partition(":")
        return app.removeprefix("app"), record_id


def _pool(app: str) -> str:
    """The budget pool of an app: kintone counts requests per app and day."""
    return f"app {app}"


def _quote(value: str) -> str:
    """A string literal for a kintone query."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _with_ids(fields_: Sequence[str], *extra: str) -> list[str]:
    """The fields to fetch; none means all of them (and then $id and $revision come anyway)."""
    return list(dict.fromkeys([*fields_, *extra, "$id", "$revision"])) if fields_ else []


#: Field types kintone sets on every save (record number, revision, who and when): not a change anyone made.
# https://cybozu.dev/ja/kintone/docs/overview/field-types/
_BOOKKEEPING_TYPES = frozenset({"__ID__", "__REVISION__", "RECORD_NUMBER", "UPDATED_TIME", "MODIFIER", "CREATED_TIME",
                                "CREATOR"})


def _bookkeeping(record: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(code for code, item in record.items()
                     if isinstance(item, dict) and item.get("type") in _BOOKKEEPING_TYPES)


def _plain(record: Mapping[str, Any]) -> dict[str, Any]:
    """{"code": {"type": …, "value": v}} -> {"code": v}."""
    return {code: item.get("value") for code, item in record.items() if isinstance(item, dict)}


def _entry(
    key_field: str, key: str, record: Mapping[str, Any], revision: str | None, by_id: bool
) -> dict[str, Any]:
    # The key travels in updateKey (or id); fields starting with $ are kintone's own.
    values = {
        f: {"value": v} for f, v in record.items() if f != key_field and not f.startswith("$")
    }
    entry: dict[str, Any] = (
        {"id": key} if by_id else {"updateKey": {"field": key_field, "value": key}}
    )
    entry["record"] = values
    if revision:
        entry["revision"] = revision
    return entry


def _problems(errors: Any) -> dict[int | None, list[tuple[str, str]]]:
    """CB_VA01 `errors` ({"records[3].record.email.value": {"messages": [...]}}) by index (None:
    the request as a whole) as (field, message) pairs."""
    found: dict[int | None, list[tuple[str, str]]] = {}
    for path, detail in (errors or {}).items() if isinstance(errors, dict) else ():
        messages = detail.get("messages", []) if isinstance(detail, dict) else []
        match = _RECORD_KEY.match(path)
        index, name = (int(match[1]), match[2]) if match else (None, path.split(".")[0])
        found.setdefault(index, []).append((name, " ".join(map(str, messages))))
    return found


_TYPES = {
    "SINGLE_LINE_TEXT": "string",
    "MULTI_LINE_TEXT": "text",
    "RICH_TEXT": "text",
    "NUMBER": "number",
    "CALC": "number",
    "DATE": "date",
    "DATETIME": "datetime",
    "CREATED_TIME": "datetime",
    "UPDATED_TIME": "datetime",
    "DROP_DOWN": "enumeration",
    "RADIO_BUTTON": "enumeration",
    "CHECK_BOX": "enumeration",
    "MULTI_SELECT": "enumeration",
    "RECORD_NUMBER": "id",
    "__ID__": "id",
}


def _field_info(code: str, prop: Mapping[str, Any]) -> FieldInfo:
    kind = prop.get("type", "")
    if kind == "LINK":
        mapped = {"MAIL": "email", "CALL": "phone"}.get(prop.get("protocol", ""), "string")
    else:
        # Subtables, files, users and the like have no flat value: they keep kintone's type name.
        mapped = _TYPES.get(kind, kind.lower())
    options = prop.get("options") or {}
    return FieldInfo(
        name=code,
        type=mapped,
        required=bool(prop.get("required")),
        unique=bool(prop.get("unique")) or kind in ("RECORD_NUMBER", "__ID__"),
        options=tuple(sorted(options, key=lambda o: int(options[o].get("index", 0)))),
        label=prop.get("label"),
    )
