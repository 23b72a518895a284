"""The connector interface: what a module for one external system implements, and its values.

To add a system, subclass `Connector` (or, for a JSON REST API, `connectors._rest.RestConnector`, which
brings the session, budgets, error mapping and batching), set `name`, implement `from_env`, the API methods and
the webhook methods, and register the class under the entry-point group `bridge.connectors` (see
connectors/registry.py). Test it by subclassing `connectors.testing.ConnectorContract`.

API methods make each request once and never sleep: a refusal the system may lift later is raised as
RateLimited / Transient (with the system's Retry-After) or Paused (until a reset), for the caller to reschedule.

A record is a flat dict, field name -> value, in the system's own value format (HubSpot: strings;
Salesforce: JSON values; kintone: the `value` of each field). `object` names what the records are:
HubSpot an object type ("contacts"), Salesforce an sObject ("Lead"), kintone an app id ("7").
`fields` lists the fields to return; ids and keys come back anyway (an empty list: HubSpot's
default properties, Salesforce only Id, kintone every field).
"""

from __future__ import annotations

import codecs
import json
import re
import sys
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from marshmallow import Schema, ValidationError

from bridge.kernel import schemas
from bridge.kernel.clock import Clock, utcnow
from bridge.kernel.errors import ConnectorError, WebhookInvalid

if TYPE_CHECKING:
    from bridge.kernel.budget import Budget
    from bridge.kernel.env import EnvReader


@dataclass(frozen=True)
class WebhookRequest:
    """A delivery as received, independent of the web framework."""

    method: str
    url: str  # scheme://host/path?query as the server saw it
    headers: Mapping[str, str]  # case-insensitive
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class WebhookReply:
    """What the sender gets back once the events are committed."""

    body: str
    content_type: str = "application/json"
    status: int = 200


@dataclass(frozen=True)
class InboxEvent:
    """One event of a delivery, ready for the inbox: its raw JSON plus the keys the worker needs."""

    source: str
    event_type: str
    dedupe_key: str  # unique per source: a redelivery of the same event maps to the same key
    record_key: str  # the record the event is about; events of one record are processed in order
    occurred_at: datetime
    body: str


@dataclass(frozen=True)
class FieldInfo:
    """One field of an object, as `describe` reports it; mappings are checked against these."""

    name: str
    type: (
        str  # string | text | number | boolean | date | datetime | enumeration | email | phone | id
    )
    required: bool = False
    unique: bool = False
    options: tuple[str, ...] = ()  # allowed values of a picklist / enumeration / drop-down
    label: str | None = None


@dataclass(frozen=True)
class UpsertResult:
    """The outcome for one input record of a batch upsert, in input order."""

    key: str  # the input's upsert-key value
    outcome: str  # created | updated | failed
    id: str | None = None  # the record id in the target system
    category: str | None = None  # when failed: retriable | permanent
    code: str | None = None  # the system's error code, e.g. REQUIRED_FIELD_MISSING, CB_VA01
    message: str | None = None
    fields: tuple[str, ...] = ()  # field names the error is about
    #: The record's values as the system answered the write, where it answers them (HubSpot): what was really
    #: kept, which may differ from what was sent (a lifecycle stage moved backwards is not applied).
    values: Mapping[str, Any] | None = field(default=None, compare=False)
    #: When the record was not sent because its call failed as a whole (after other calls of the same upsert
    #: were written): that error, whose type and retry_after / until say when to try again.
    error: ConnectorError | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Change:
    """What one inbox event says happened to one record, the same shape for every system (`change_of`)."""

    system: str  # the connector's name: "hubspot" | "salesforce" | "kintone"
    object: str  # as the API methods name it: HubSpot "contacts", Salesforce "Lead", kintone app id "7"
    record_id: str
    # created | updated | deleted | restored | merged | erased (a privacy deletion: forget the person)
    # | property (one property changed, in `fields`) | association | status (a kintone process step) | comment
    kind: str
    fields: Mapping[str, Any]  # the changed property, or the whole record as sent when `snapshot`
    snapshot: bool  # `fields` is the whole record as of `version` (Salesforce outbound message, kintone)
    occurred_at: datetime
    # What orders the changes of one record (of one property, for kind "property"): versions of one record sort
    # as text (times are UTC ISO-8601, numbers zero-padded). Salesforce SystemModstamp, kintone $revision,
    # HubSpot occurredAt; None when the event has none.
    version: str | None
    # Fields of a snapshot the system itself sets on every save (ids, timestamps, revisions, who saved it):
    # never a change of their own, so left out when a snapshot is compared with the last one.
    bookkeeping: frozenset[str] = frozenset()


class Connector(ABC):
    """One external system. Subclasses override the methods below; each says when it is called."""

    name: ClassVar[str]
    #: Settings this connector reads, name -> one-line description (shown by `bridge connectors`).
    settings_help: ClassVar[dict[str, str]] = {}

    @classmethod
    @abstractmethod
    def from_env(cls, read: EnvReader, *, clock: Clock = utcnow, budget: Budget | None = None) -> Connector:
        """Build the connector from settings; add problems to `read.problems`, never raise. `clock` gives "now"
        (token expiry, pauses, Retry-After dates); `budget` is where calls are spent (None: a LocalBudget)."""

    # --- API ----------------------------------------------------------------------------

    @abstractmethod
    def api_problem(self) -> str | None:
        """Which settings API calls lack (e.g. "set HUBSPOT_ACCESS_TOKEN"), or None when set."""

    @abstractmethod
    def check(self) -> str:
        """Authenticate and make one cheap read; return what was checked, or raise ConnectorError
        (AuthError for bad credentials or a missing permission, naming the setting to fix)."""

    @abstractmethod
    def read(
        self, object: str, ids: Sequence[str], fields: Sequence[str], id_field: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """Current records by id (or by the unique `id_field`), in as few calls as the system
        allows. Returns id -> record; ids that do not exist are absent."""

    @abstractmethod
    def upsert(
        self, object: str, key_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[UpsertResult]:
        """Create or update records matched on the unique `key_field` (each record holds its value).
        Returns one UpsertResult per record, in input order: failures the system pins on one record
        come back as failed results; a request refused as a whole raises ConnectorError."""

    @abstractmethod
    def changed_since(
        self, object: str, since: datetime, fields: Sequence[str]
    ) -> Iterator[dict[str, Any]]:
        """Every record modified at or after `since`, fetched page by page as the caller iterates
        (HubSpot and Salesforce in order of change, kintone in order of record id)."""

    def scan(self, object: str, fields: Sequence[str], *, after: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record of the object in ascending record-id order, fetched page by page (the largest page the
        system allows) as the caller iterates; each call spends the budget like any other. Each record holds its
        id field (HubSpot hs_object_id, Salesforce Id, kintone $id). `after`: start past this record id, to resume
        a scan that stopped (a RateLimited raised mid-way) from the last record received.
        The default refuses: a connector that cannot list its records cannot be reconciled."""
        raise NotImplementedError(f"the {self.name} connector cannot list all its records (Connector.scan), so "
                                  "`bridge reconcile --full` cannot compare its routes: disable them in the mappings "
                                  "folder, or upgrade the connector")

    def deleted_since(self, object: str, since: datetime, now: datetime) -> list[tuple[str, datetime]] | None:
        """(record id, when deleted) of the records deleted at or after `since` (up to `now`; a system that keeps
        time to the minute may leave now's minute to the next call, so overlap `since`), or None when the system
        cannot tell (no deleted-records API, or `since` is past what it keeps): the caller then finds deletions by
        comparing a full `scan` with the ids it knows. Default: None."""
        return None

    def change_fields(self, object: str) -> tuple[str | None, str | None]:
        """The names of the record fields that hold when a record was last modified and by whom (None where the
        system has no such field), so a report can say "changed by X at T". Default: (None, None)."""
        return None, None

    def status_field(self, object: str) -> str | None:
        """The field of `object` that a write cannot set, only a process action moves (kintone's process-management
        status), or None. Writes to it go through `move_statuses`. Default: None."""
        return None

    def move_statuses(self, object: str, key_field: str, moves: Sequence[tuple[str, str]]) -> list[UpsertResult]:
        """Move records (key, status) to a status by the system's process actions; a result per move, in order.
        Only called for a connector whose `status_field` names a field."""
        raise NotImplementedError(f"the {self.name} connector names a status field of {object} (status_field) but "
                                  "cannot move it: implement move_statuses, or let status_field return None")

    @abstractmethod
    def describe(self, object: str) -> dict[str, FieldInfo]:
        """The object's fields by name, so mappings can be checked before anything is written."""

    @property
    @abstractmethod
    def calls(self) -> Counter[str]:
        """API requests sent so far per endpoint, token requests included."""

    # --- Webhooks ------------------------------------------------------------------------

    @abstractmethod
    def webhook_problem(self) -> str | None:
        """Why the webhook endpoint cannot accept deliveries (a missing secret), or None."""

    @abstractmethod
    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        """Raise WebhookUnauthorized/WebhookForbidden unless the delivery is authentic, accepted."""

    @abstractmethod
    def parse_webhook(self, request: WebhookRequest, received_at: datetime) -> list[InboxEvent]:
        """Split an authentic delivery into inbox events; raise WebhookInvalid naming the field. Each event's
        record_key is `record_key(object, record_id)` of the record its `change_of` names."""

    @abstractmethod
    def change_of(self, event_type: str, body: str, occurred_at: datetime) -> Change:
        """What an inbox event this connector made in `parse_webhook` says happened (its event_type, body and
        occurred_at as stored). Pure: no network, no clock."""

    def polled_event(self, object: str, record: Mapping[str, Any], received_at: datetime) -> InboxEvent | None:
        """The inbox event this record's webhook would have made, for a record a catch-up poll read with
        `changed_since` (its webhook may never have come): `change_of` reads it as it reads a webhook's, so it takes
        the webhook's path. Its dedupe_key names the record's version ("poll:<object>:<id>:<version>"), so a later
        poll of the same version is a duplicate. No network beyond what `changed_since` already read (kintone: the
        app's field types). None: the record says no version, or (the default) this system is not polled."""
        return None

    def record_key(self, object: str, record_id: str) -> str:
        """The inbox record key of a record (events of one key are processed in order); override to keep an
        older spelling. Default: "<object>:<record id>"."""
        return f"{object}:{record_id}"

    def parse_record_key(self, key: str) -> tuple[str, str]:
        """(object, record id) of a key `record_key` made."""
        object, _, record_id = key.partition(":")
        return object, record_id

    def acknowledge(self, events: list[InboxEvent], new: int) -> WebhookReply:
        """The 2xx reply once the events are committed; override for a fixed body."""
        return WebhookReply(json.dumps({"received": len(events), "new": new}))


def poll_key(object: str, record_id: str, version: str) -> str:
    """The dedupe_key of a polled event: one per record version, whichever poll reads it."""
    return f"poll:{object}:{record_id}:{version}"


_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def compact_json(value: Any) -> str:
    """An event's body as the inbox keeps it: compact JSON with non-ASCII text as it is. One shared encoder:
    json.dumps with options builds a new one per call, which shows on a 100-event delivery."""
    return _COMPACT_JSON.encode(value)


def load_schema(schema: Schema, data: Any, path: str) -> dict:
    """Validate `data` with a marshmallow schema, or raise WebhookInvalid naming every bad field."""
    try:
        return schemas.load(schema, data)
    except ValidationError as error:
        problems = list(_flatten(error.messages, path))
        field, first = problems[0]
        rest = "; ".join(f"{f}: {m}" for f, m in problems[1:6])
        raise WebhookInvalid(field, first + (f" (also {rest})" if rest else "")) from None


def _flatten(messages: Any, path: str):
    if isinstance(messages, dict):
        for key, value in messages.items():
            child = (
                f"{path}[{key}]"
                if isinstance(key, int)
                else (f"{path}.{shown(key)}" if path else shown(key))
            )
            yield from _flatten(value, child)
    elif isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
        yield path or "body", " ".join(messages)
    else:
        yield path or "body", str(messages)


def shown(text: Any) -> str:
    """`text` safe to put in an answer, a log line and the database: control characters and lone UTF-16
    surrogates become \\u escapes (a sender's key could otherwise forge a log line or fail the write)."""
    return "".join(
        c if c.isprintable() and not "\ud800" <= c <= "\udfff" else f"\\u{ord(c):04x}" for c in str(text)
    )


# How deep a JSON body may nest. Real deliveries nest less than 10 levels (a kintone subtable is 8); much
# deeper input only exists to exhaust a recursive encoder or parser further down the line.
MAX_JSON_DEPTH = 64
# An escaped UTF-16 surrogate (\ud800-\udfff) in the raw text: the only way a lone surrogate gets in.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_json(body: bytes) -> Any:
    """Decode a JSON body or raise WebhookInvalid saying where it breaks.

    JSON must be UTF-8 (RFC 8259 section 8.1; a UTF-8 byte-order mark is ignored). Also refused, naming
    the field: NaN and Infinity (not JSON) and numbers too large for a double, integers over 4,300 digits,
    nesting deeper than MAX_JSON_DEPTH, and text holding a lone UTF-16 surrogate such as "\\ud83d" (half an
    emoji): it cannot be stored as UTF-8, and is refused rather than altered.
    """
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8):]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise WebhookInvalid(
            "body", f"is not UTF-8 encoded (byte {error.start}); send JSON as UTF-8"
        ) from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise WebhookInvalid(
            "body", f"is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    except RecursionError:
        raise WebhookInvalid("body", f"nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:  # an integer past Python's limit on converting text to int
        raise WebhookInvalid(
            "body", f"holds an integer of more than {sys.get_int_max_str_digits():,} digits"
        ) from None
    _check_tree(data, surrogates=_SURROGATE_ESCAPE.search(body) is not None)
    return data


def _refuse_constant(name: str) -> Any:
    raise WebhookInvalid("body", f"holds {name}, which is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise WebhookInvalid("body", f"holds the number {text[:40]}, too large for a double")
    return value


def _check_tree(data: Any, surrogates: bool) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH, and (when the raw text escapes a surrogate) any key or
    text holding a lone surrogate. Iterative: a recursive walk is what deep nesting would break."""
    if surrogates and _unencodable(data):
        raise WebhookInvalid("body", _LONE_SURROGATE)
    stack: list[tuple[Any, tuple]] = [(data, ())] if type(data) in (dict, list) else []
    while stack:
        value, path = stack.pop()
        if len(path) >= MAX_JSON_DEPTH:
            raise WebhookInvalid(_json_path(path), f"nests deeper than {MAX_JSON_DEPTH} levels")
        for key, item in value.items() if type(value) is dict else enumerate(value):
            kind = type(item)
            if surrogates and (_unencodable(key) or _unencodable(item)):
                raise WebhookInvalid(_json_path((*path, key)), _LONE_SURROGATE)
            if kind is dict or kind is list:
                stack.append((item, (*path, key)))


_LONE_SURROGATE = (
    "holds a lone UTF-16 surrogate (half of an emoji?), which cannot be stored as UTF-8; send whole characters"
)


def _unencodable(text: Any) -> bool:
    """Whether `text` is a string that UTF-8 cannot encode (only lone surrogates make that so)."""
    if type(text) is not str or text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json_path(path: tuple, limit: int = 120) -> str:
    """[0].properties.title, the form every field error names its field in; cut to about `limit` characters
    (a path 64 levels deep, or a key of a megabyte, is no help to read)."""
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{shown(key[:limit])}" if out else shown(key[:limit]))
        if len(out) > limit:
            return out[:limit] + "…"
    return out or "body"


# The range of time an event may carry: any later cannot be written in ISO 8601's four-digit years, and
# nothing a sender reports happened before the Unix epoch.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
LATEST_EPOCH_MS = (LATEST - EARLIEST) // timedelta(milliseconds=1)
_OUT_OF_RANGE = "is out of range: give a time from 1970-01-01 to 9999-12-31 (UTC)"


def from_epoch_ms(ms: int, field: str = "occurredAt") -> datetime:
    """Epoch milliseconds as an aware UTC datetime, or WebhookInvalid naming `field` when out of range."""
    if not 0 <= ms <= LATEST_EPOCH_MS:
        raise WebhookInvalid(field, _OUT_OF_RANGE)
    return EARLIEST + timedelta(milliseconds=ms)


def event_time(moment: datetime, field: str) -> datetime:
    """`moment` in UTC (a naive one is taken as UTC), or WebhookInvalid naming `field` when it is outside
    1970..9999 in UTC (0001-01-01T00:00+09:00 has no UTC form at all)."""
    try:
        utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        raise WebhookInvalid(field, _OUT_OF_RANGE) from None
    if not EARLIEST <= utc <= LATEST:
        raise WebhookInvalid(field, _OUT_OF_RANGE)
    return utc


def parse_event_time(value: Any, field: str) -> datetime:
    """An ISO 8601 date-time sent as text ("Z" or an offset; none means UTC) checked by `event_time`."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise WebhookInvalid(field, "is not an ISO 8601 date-time, e.g. 2026-11-21T10:00:00Z") from None
    return event_time(moment, field)
