"""HubSpot contacts in memory: create, update, batch update and upsert with HubSpot's rules."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bridge.kernel.clock import iso
from connectors.sandbox.hubspot_schema import LIFECYCLE_STAGES, ContactSchema, Problem

MAX_BATCH = 100  # https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts
DEFAULT_READ = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")
ALWAYS_READ = ("hs_object_id", "createdate", "lastmodifieddate")
#: The HubSpot user the control API acts as (a marketer in the CRM). HubSpot sets hs_updated_by_user_id to the user
#: who last saved a record; the sandbox leaves it empty after an integration's write (API), its own assumption.
UI_USER_ID = "4123456"
UPDATED_BY = "hs_updated_by_user_id"


class HubSpotError(Exception):
    """A whole request refused: HTTP status, category and message for HubSpot's error body."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        errors: list[dict] | None = None,
        context: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.category, self.message = status, category, message
        self.errors, self.context = errors, context


def invalid(problems: list[Problem]) -> HubSpotError:
    listed = ", ".join(p.message for p in problems)
    return HubSpotError(
        400,
        "VALIDATION_ERROR",
        f"Property values were not valid: {listed}",
        errors=[p.detail() for p in problems],
    )


@dataclass
class Contact:
    id: str
    properties: dict[str, str]
    created: datetime
    updated: datetime
    # When each property last took a new value: the timestamp of its newest version in HubSpot's property history
    # (propertiesWithHistory). Benchmarks time when a value reached HubSpot by it; the API does not show it.
    changed_at: dict[str, datetime] = field(default_factory=dict)

    def to_api(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        wanted = DEFAULT_READ if names is None else (*names, *ALWAYS_READ)
        return {
            "id": self.id,
            "properties": {n: self.properties.get(n) for n in dict.fromkeys(wanted)},
            "createdAt": iso(self.created),
            "updatedAt": iso(self.updated),
            "archived": False,
        }


@dataclass(frozen=True)
class Change:
    """A contact created (property None) or one property changed: a webhook event to be."""

    contact_id: str
    occurred_at: datetime
    source: str  # HubSpot's changeSource: API for API writes, CRM for the UI
    property: str | None = None
    value: str | None = None
    deleted: bool = False  # the contact was deleted (archived): contact.deletion


@dataclass(frozen=True)
class Failed:
    """One input of a batch that was not written, with the error HubSpot reports for it."""

    id: str
    category: str
    message: str
    trace: str | None = None
    problems: tuple[Problem, ...] = ()

    def error(self) -> dict[str, Any]:
        # The input's objectWriteTraceId ties the error to it; without one, only the id can.
        context = {"objectWriteTraceId": [self.trace]} if self.trace else {"ids": [self.id]}
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": context,
            "errors": [p.detail() for p in self.problems],
        }


@dataclass(frozen=True)
class Written:
    """One input of a batch that was written."""

    contact: Contact
    created: bool
    trace: str | None
    written: tuple[str, ...] = ()  # the properties the input set

    def to_api(self, upsert: bool) -> dict[str, Any]:
        # HubSpot answers each result with the properties the input set, as they now are (a lifecycle stage moved
        # back without clearing shows the stage kept), beside its own defaults.
        # https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/update-contacts
        out = self.contact.to_api((*DEFAULT_READ, *self.written))
        if upsert:
            out["new"] = self.created
        if self.trace:
            out["objectWriteTraceId"] = self.trace
        return out


@dataclass
class _Plan:
    key: str  # the input's id: a record id, or the idProperty value
    values: dict[str, str]
    trace: str | None
    target: str | None = None  # the existing record's id; None creates one


class ContactStore:
    def __init__(
        self,
        schema: ContactSchema,
        clock: Callable[[], datetime],
        notify: Callable[[list[Change]], None],
    ) -> None:
        self.schema = schema
        self._clock = clock
        self._notify = notify
        self._lock = threading.RLock()
        #: Goes up on every change: a search's sorted matches stay valid while it stays the same.
        self.version = 0
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._contacts: dict[str, Contact] = {}
            self._index: dict[str, dict[str, str]] = {name: {} for name in self.schema.id_properties()}
            self._next_id = 1001
            self.version += 1

    def all(self) -> list[Contact]:
        with self._lock:
            return list(self._contacts.values())

    def snapshot(self) -> tuple[int, list[Contact]]:
        """(version, every contact in id order): contacts are added with rising ids and never move."""
        with self._lock:
            return self.version, list(self._contacts.values())

    def find(self, value: str, id_property: str | None = None) -> Contact | None:
        with self._lock:
            if id_property in (None, "hs_object_id"):
                return self._contacts.get(str(value))
            if id_property not in self._index:
                raise HubSpotError(
                    400,
                    "VALIDATION_ERROR",
                    f"{id_property} is not a unique property and cannot be used as idProperty",
                )
            key = str(value).strip().lower() if id_property == "email" else str(value)
            contact_id = self._index[id_property].get(key)
            return self._contacts.get(contact_id) if contact_id else None

    # -- writes -----------------------------------------------------------------------------------

    def create(self, properties: dict[str, Any], source: str) -> Contact:
        values, problems = self.schema.normalize(properties)
        if problems:
            raise invalid(problems)
        with self._lock:
            clash = self._clash(values, None)
            if clash:
                raise HubSpotError(409, "CONFLICT", clash)
            contact, changes = self._insert(values, source)
        self._notify(changes)
        return contact

    def bulk_create(self, records: list[dict[str, Any]], source: str = "IMPORT") -> list[str]:
        """Create every record or none (an import): each checked as `create` checks one, then added in order with no
        webhook; the new ids in input order."""
        plans, claims = [], {name: {} for name in self._index}
        with self._lock:
            for number, properties in enumerate(records):
                values, problems = self.schema.normalize(properties)
                if problems:
                    raise HubSpotError(400, "VALIDATION_ERROR", f"records[{number}]: {invalid(problems).message}",
                                       errors=[p.detail() for p in problems])
                clash = self._clash(values, f"input {number}", claims)
                if clash:
                    raise HubSpotError(409, "CONFLICT", f"records[{number}]: {clash}")
                for name, claimed in claims.items():
                    if values.get(name):
                        claimed[values[name]] = f"input {number}"
                plans.append(values)
            return [self._insert(values, source)[0].id for values in plans]

    def delete(self, contact_id: str, source: str) -> None:
        """Delete (archive) a contact, as a user does in the CRM: gone from reads and searches; sends
        contact.deletion."""
        with self._lock:
            contact = self._contacts.pop(str(contact_id), None)
            if contact is None:
                raise HubSpotError(404, "OBJECT_NOT_FOUND", f"no contact {contact_id}", context={"id": [contact_id]})
            for name, index in self._index.items():
                value = contact.properties.get(name)
                if value and index.get(value) == contact.id:
                    del index[value]
            self.version += 1
            now = self._clock()
        self._notify([Change(contact.id, now, source, deleted=True)])

    def update(self, contact_id: str, properties: dict[str, Any], source: str) -> Contact:
        values, problems = self.schema.normalize(properties)
        if problems:
            raise invalid(problems)
        with self._lock:
            contact = self._contacts.get(contact_id)
            if contact is None:
                raise HubSpotError(
                    404,
                    "OBJECT_NOT_FOUND",
                    "Object not found.  objectId are usually numeric.",
                    context={"id": [contact_id]},
                )
            clash = self._clash(values, contact_id)
            if clash:
                raise HubSpotError(409, "CONFLICT", clash)
            changes = self._apply(contact, values, source)
        self._notify(changes)
        return contact

    def batch_update(self, inputs: list[dict[str, Any]]) -> tuple[list[Written], list[Failed]]:
        """Update by record id; an unknown id fails that input only."""
        plans, failed = self._normalize(inputs, lambda item: str(item.get("id", "")))
        with self._lock:
            for plan in plans:
                plan.target = plan.key if plan.key in self._contacts else None
            missing = [p for p in plans if p.target is None]
            failed += [
                Failed(
                    p.key,
                    "OBJECT_NOT_FOUND",
                    "Could not get some CONTACT objects, they may be deleted or not exist.",
                    p.trace,
                )
                for p in missing
            ]
            return self._write([p for p in plans if p.target], failed, _partial(inputs))

    def batch_upsert(self, inputs: list[dict[str, Any]]) -> tuple[list[Written], list[Failed]]:
        """Create or update by a unique idProperty (email, or a property with hasUniqueValue)."""
        id_properties = {str(item.get("idProperty") or "") for item in inputs}
        unknown = id_properties - self.schema.id_properties()
        if unknown:
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                f"idProperty {sorted(unknown)[0] or '(missing)'} is not email or a property with "
                "hasUniqueValue=true, so it cannot be used for upsert",
            )

        def key_of(item: dict[str, Any]) -> str:
            key = str(item.get("id", "")).strip()
            return key.lower() if item.get("idProperty") == "email" else key

        plans, failed = self._normalize(inputs, key_of)
        # "Partial upserts are not supported when using email as idProperty" (contacts guide).
        partial = _partial(inputs) and "email" not in id_properties
        with self._lock:
            id_property_of = {key_of(i): str(i.get("idProperty")) for i in inputs}
            for plan in list(plans):
                id_property = id_property_of[plan.key]
                existing = self.find(plan.key, id_property)
                if existing is not None:
                    plan.target = existing.id
                    continue
                # A new record gets the key as its idProperty value, checked like any value.
                _, problems = self.schema.normalize({id_property: plan.key})
                if problems:
                    plans.remove(plan)
                    failed.append(
                        Failed(plan.key, "VALIDATION_ERROR", invalid(problems).message, plan.trace, tuple(problems))
                    )
                else:
                    plan.values = {**plan.values, id_property: plan.key}
            return self._write(plans, failed, partial)

    def _normalize(
        self, inputs: list[dict[str, Any]], key_of: Callable[[dict[str, Any]], str]
    ) -> tuple[list[_Plan], list[Failed]]:
        plans, failed = [], []
        for item in inputs:
            key, trace = key_of(item), _trace(item)
            values, problems = self.schema.normalize(item.get("properties") or {})
            if not key:
                failed.append(Failed(key, "VALIDATION_ERROR", "Every input needs an id", trace))
            elif problems:
                failed.append(Failed(key, "VALIDATION_ERROR", invalid(problems).message, trace, tuple(problems)))
            else:
                plans.append(_Plan(key, values, trace))
        _refuse_duplicates([p.key for p in plans] + [f.id for f in failed if f.id])
        return plans, failed

    def _write(self, plans: list[_Plan], failed: list[Failed], partial: bool) -> tuple[list[Written], list[Failed]]:
        """Write every plan that clashes with no unique value; all or nothing unless `partial`.

        https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts: with an
        objectWriteTraceId on every input, good inputs are written and bad ones reported (207);
        otherwise one bad input fails the batch.
        """
        claims: dict[str, dict[str, str]] = {name: {} for name in self._index}
        ready = []
        for number, plan in enumerate(plans):
            owner = plan.target or f"input {number}"
            clash = self._clash(plan.values, owner, claims)
            if clash:
                failed.append(Failed(plan.key, "CONFLICT", clash, plan.trace))
                continue
            for name, claimed in claims.items():
                if plan.values.get(name):
                    claimed[plan.values[name]] = owner
            ready.append(plan)
        refused = [f for f in failed if f.category != "OBJECT_NOT_FOUND"]
        if refused and not partial:
            first = refused[0]
            status = 409 if first.category == "CONFLICT" else 400
            raise HubSpotError(status, first.category, first.message, errors=[p.detail() for p in first.problems])
        written, changes = [], []
        for plan in ready:
            if plan.target is None:
                contact, made = self._insert(plan.values, "API")
                written.append(Written(contact, True, plan.trace, tuple(plan.values)))
            else:
                contact = self._contacts[plan.target]
                made = self._apply(contact, plan.values, "API")
                written.append(Written(contact, False, plan.trace, tuple(plan.values)))
            changes += made
        self._notify(changes)
        return written, failed

    def _insert(self, values: dict[str, str], source: str) -> tuple[Contact, list[Change]]:
        now = self._clock()
        contact_id = str(self._next_id)
        self._next_id += 1
        kept = {k: v for k, v in values.items() if v != ""}
        stamp = iso(now)
        kept.update(hs_object_id=contact_id, createdate=stamp, lastmodifieddate=stamp)
        if source != "API":
            kept[UPDATED_BY] = UI_USER_ID
        contact = Contact(contact_id, kept, now, now, dict.fromkeys(kept, now))
        self._contacts[contact_id] = contact
        self._reindex(contact, {})
        self.version += 1
        changes = [Change(contact_id, now, source)]
        changes += [Change(contact_id, now, source, k, v) for k, v in values.items() if v != ""]
        return contact, changes

    def _apply(self, contact: Contact, values: dict[str, str], source: str) -> list[Change]:
        changed = {k: v for k, v in values.items() if contact.properties.get(k, "") != v}
        if source == "API" and _backward(contact.properties.get("lifecyclestage"), changed.get("lifecyclestage")):
            # The API answers 2xx but keeps the stage: an earlier one is set only after clearing it ("").
            # https://knowledge.hubspot.com/records/use-lifecycle-stages
            del changed["lifecyclestage"]
            if not changed:
                contact.updated = self._clock()
                contact.properties["lastmodifieddate"] = iso(contact.updated)
                return []
        if not changed:
            return []
        now = self._clock()
        before = dict(contact.properties)
        for name, value in changed.items():
            if value == "":
                contact.properties.pop(name, None)
            else:
                contact.properties[name] = value
        contact.updated = now
        contact.properties["lastmodifieddate"] = iso(now)
        if source == "API":
            contact.properties.pop(UPDATED_BY, None)
        else:
            contact.properties[UPDATED_BY] = UI_USER_ID
        contact.changed_at.update(dict.fromkeys([*changed, "lastmodifieddate", UPDATED_BY], now))
        self._reindex(contact, before)
        self.version += 1
        return [Change(contact.id, now, source, k, v) for k, v in changed.items()]

    def _reindex(self, contact: Contact, before: dict[str, str]) -> None:
        for name, index in self._index.items():
            old, new = before.get(name), contact.properties.get(name)
            if old and index.get(old) == contact.id:
                del index[old]
            if new:
                index[new] = contact.id

    def _clash(
        self, values: dict[str, str], own_id: str | None, claims: dict[str, dict[str, str]] | None = None
    ) -> str | None:
        """Which unique value is already another record's (or, in a batch, another input's)."""
        for name, index in self._index.items():
            value = values.get(name, "")
            other = (claims or {}).get(name, {}).get(value) or index.get(value)
            if value and other and other != own_id:
                if name == "email":
                    return f"Contact already exists. Existing ID: {other}"
                return f"A contact with {name}={values[name]} already exists. Existing ID: {other}"
        return None


def _trace(item: dict[str, Any]) -> str | None:
    trace = item.get("objectWriteTraceId")
    return str(trace) if trace not in (None, "") else None


def _partial(inputs: list[dict[str, Any]]) -> bool:
    return bool(inputs) and all(_trace(item) for item in inputs)


def _refuse_duplicates(ids: list[str]) -> None:
    seen, duplicates = set(), []
    for value in ids:
        if value in seen:
            duplicates.append(value)
        seen.add(value)
    if duplicates:
        raise HubSpotError(
            400,
            "VALIDATION_ERROR",
            f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. IDs must be unique",
        )


def _backward(current: str | None, new: str | None) -> bool:
    """A move to an earlier default lifecycle stage (custom stages and clearing are not)."""
    return bool(current and new) and current in LIFECYCLE_STAGES and new in LIFECYCLE_STAGES and \
        LIFECYCLE_STAGES.index(new) < LIFECYCLE_STAGES.index(current)
