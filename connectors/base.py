"""The connector interface: what a module for one external system implements, and its values.

To add a system, subclass `Connector`, set `name`, implement `from_env`, the API methods and the
webhook methods, and register the class under the entry-point group `bridge.connectors` (see
connectors/registry.py). connectors/_http.py has session, retry and rate-limit plumbing to reuse.

A record is a flat dict, field name -> value, in the system's own value format (HubSpot: strings;
Salesforce: JSON values; kintone: the `value` of each field). `object` names what the records are:
HubSpot an object type ("contacts"), Salesforce an sObject ("Lead"), kintone an app id ("7").
`fields` lists the fields to return; ids and keys come back anyway (an empty list: HubSpot's
default properties, Salesforce only Id, kintone every field).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from marshmallow import Schema, ValidationError

from bridge import schemas
from bridge.errors import WebhookInvalid

if TYPE_CHECKING:
    from bridge.config import EnvReader


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


class Connector(ABC):
    """One external system. Subclasses override the methods below; each says when it is called."""

    name: ClassVar[str]
    #: Settings this connector reads, name -> one-line description (shown by `bridge connectors`).
    settings_help: ClassVar[dict[str, str]] = {}

    @classmethod
    @abstractmethod
    def from_env(cls, read: EnvReader) -> Connector:
        """Build the connector from settings; add problems to `read.problems`, never raise."""

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

    @abstractmethod
    def describe(self, object: str) -> dict[str, FieldInfo]:
        """The object's fields by name, so mappings can be checked before anything is written."""

    @property
    @abstractmethod
    def calls(self) -> Counter[str]:
        """API requests sent so far per endpoint, retries and token requests included."""

    # --- Webhooks ------------------------------------------------------------------------

    @abstractmethod
    def webhook_problem(self) -> str | None:
        """Why the webhook endpoint cannot accept deliveries (a missing secret), or None."""

    @abstractmethod
    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        """Raise WebhookUnauthorized/WebhookForbidden unless the delivery is authentic, accepted."""

    @abstractmethod
    def parse_webhook(self, request: WebhookRequest, received_at: datetime) -> list[InboxEvent]:
        """Split an authentic delivery into inbox events; raise WebhookInvalid naming the field."""

    def acknowledge(self, events: list[InboxEvent], new: int) -> WebhookReply:
        """The 2xx reply once the events are committed; override for a fixed body."""
        return WebhookReply(json.dumps({"received": len(events), "new": new}))


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
                else (f"{path}.{key}" if path else str(key))
            )
            yield from _flatten(value, child)
    elif isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
        yield path or "body", " ".join(messages)
    else:
        yield path or "body", str(messages)


def parse_json(body: bytes) -> Any:
    """Decode a JSON body or raise WebhookInvalid saying where it breaks."""
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise WebhookInvalid("body", "is not UTF-8 encoded") from None
    except json.JSONDecodeError as error:
        raise WebhookInvalid(
            "body", f"is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
