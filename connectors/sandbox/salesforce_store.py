"""One Salesforce object's records in memory (collection upserts by external id, single saves, SOQL), and the
query locators SOQL pages are read through."""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from connectors.sandbox import sfid
from connectors.sandbox.salesforce_schema import Record, RequestError, SObjectSchema
from connectors.sandbox.soql import Query

# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm
MAX_COLLECTION = 200
# The recycle bin keeps deleted records for 15 days; getDeleted reads its log no further back.
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_getdeleted.htm
RECYCLE_DAYS = 15
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}


#: A reference check: (the objects a field may name, the id given) -> whether such a record exists.
References = Callable[[list[str], str], bool]


class SObjectStore:
    """The records of one object. `lock` may be shared by the org's stores, so that a change spanning objects (a
    conversion) is one step; `references` says whether a lookup field's id names a record it may name. Saves through
    the API are the integration user's (`owner_id`); the others (the UI: the control API) are the rep's
    (`ui_user_id`), and LastModifiedById says which."""

    def __init__(
        self,
        schema: SObjectSchema,
        owner_id: str,
        clock: Callable[[], datetime],
        notify: Callable[[list[str]], None],
        lock: threading.RLock | None = None,
        references: References | None = None,
        ui_user_id: str | None = None,
    ) -> None:
        self.schema = schema
        self._owner_id = owner_id
        self._ui_user_id = ui_user_id or owner_id
        self._clock = clock
        self._notify = notify
        self._lock = lock or threading.RLock()
        self._references = references
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._records: dict[str, Record] = {}
            # Unique and external-id fields, case-insensitive as Salesforce compares them.
            self._index: dict[str, dict[str, str]] = {name: {} for name in self.schema.keys}
            self._number = 0
            # The recycle bin: id -> (the record, when it was deleted), in the order deleted.
            self._bin: dict[str, tuple[Record, datetime]] = {}
            self._purged_at: datetime | None = None  # the deletion time of the newest record purged from the bin

    def get(self, record_id: str) -> Record | None:
        with self._lock:
            record = self._records.get(record_id) or self._records.get(self._by_15(record_id))
            return dict(record) if record else None

    def all(self) -> list[Record]:
        with self._lock:
            return [dict(record) for record in self._records.values()]

    def find(self, name: str, value: Any) -> Record | None:
        with self._lock:
            record_id = self._index.get(name, {}).get(str(value).lower())
            return dict(self._records[record_id]) if record_id else None

    def _by_15(self, record_id: str) -> str:
        # A 15-character id names the same record as its 18-character form.
        return next((k for k in self._records if k[:15] == record_id[:15]), "") if len(record_id) == 15 else ""

    # -- writes -----------------------------------------------------------------------------------

    def upsert(self, ext_field: str, records: list[Record], all_or_none: bool) -> list[Record]:
        """UpsertResults in input order; with allOrNone, any failure rolls every record back."""
        with self._lock:
            saved = (copy.deepcopy(self._records), copy.deepcopy(self._index), self._number) if all_or_none else None
            keys = [str(r.get(ext_field) or "").lower() for r in records]
            repeated = {k for k, n in Counter(keys).items() if k and n > 1}
            results, touched = [], []
            for record, key in zip(records, keys, strict=True):
                if not key:
                    results.append(_failed("MISSING_ARGUMENT", f"{ext_field} not specified", [ext_field]))
                elif key in repeated:
                    results.append(
                        _failed(
                            "DUPLICATE_VALUE",
                            f"Duplicate external id specified: {key}",
                            [ext_field],
                        )
                    )
                else:
                    existing = self._index[ext_field].get(key)
                    result = self._write(existing, record, "API")
                    results.append(result)
                    if result["success"]:
                        touched.append(result["id"])
            if saved and any(not r["success"] for r in results):
                self._records, self._index, self._number = saved
                return [r if not r["success"] else {"success": False, "errors": [ROLLED_BACK]} for r in results]
        self._notify(touched)
        return results

    def create(self, records: list[Record], all_or_none: bool) -> list[Record]:
        """sObject Collections create through the API: SaveResults in input order (no `created` flag); with
        allOrNone, any failure rolls every record back.
        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_create.htm"""
        with self._lock:
            saved = (copy.deepcopy(self._records), copy.deepcopy(self._index), self._number) if all_or_none else None
            results = []
            for values in records:
                result = self._write(None, values, "API")
                results.append({k: v for k, v in result.items() if k != "created"})
            if saved and any(not r["success"] for r in results):
                self._records, self._index, self._number = saved
                return [r if not r["success"] else {"success": False, "errors": [ROLLED_BACK]} for r in results]
        self._notify([r["id"] for r in results if r["success"]])
        return results

    def save(self, record_id: str | None, values: Record, source: str) -> Record:
        """Create (record_id None) or update one record outside a collection; an UpsertResult."""
        with self._lock:
            result = self._write(record_id, values, source)
        if result["success"]:
            self._notify([result["id"]])
        return result

    def stamp(self, record_id: str, values: Record) -> Record | None:
        """Set fields as the platform does itself (read-only ones too, no checks: a conversion marking its Lead);
        the record as it is now, or None when there is no such record."""
        with self._lock:
            record = self._records.get(record_id)
            if record is None:
                return None
            now = self._clock()
            record.update(values)
            record.update(self.schema.derive(record))
            record.update(LastModifiedDate=now, SystemModstamp=now, LastModifiedById=self._ui_user_id)
        self._notify([record_id])
        return dict(record)

    def bulk_create(self, records: list[Record], source: str = "UI") -> list[str]:
        """Create every record or none (a data import), with no outbound message; the new ids in input order. Each
        record is checked as a save checks one, duplicates within the import included."""
        with self._lock:
            claimed: dict[str, dict[str, int]] = {name: {} for name in self.schema.unique}
            for number, values in enumerate(records):
                errors = self.schema.problems(values, True) + self._bad_references(values)
                for name, seen in claimed.items():
                    value = values.get(name)
                    key = str(value).lower() if value not in (None, "") else None
                    if key is not None and (key in seen or key in self._index[name]):
                        errors.append(_error("DUPLICATE_VALUE", f"duplicate value found: {name}", [name]))
                    elif key is not None:
                        seen[key] = number
                if errors:
                    raise RequestError(errors[0]["statusCode"], f"records[{number}]: {errors[0]['message']}")
            return [self._write(None, values, source)["id"] for values in records]

    def delete(self, record_id: str) -> Record | None:
        """Delete a record as a user does: it goes to the recycle bin (getDeleted lists it) and out of queries; no
        outbound message fires on a delete. The record as deleted, None when there is no such record."""
        with self._lock:
            record = self._records.pop(record_id, None) or self._records.pop(self._by_15(record_id), None)
            if record is None:
                return None
            for name, index in self._index.items():
                if record.get(name) is not None and index.get(str(record[name]).lower()) == record["Id"]:
                    del index[str(record[name]).lower()]
            now = self._clock()
            record.update(IsDeleted=True, SystemModstamp=now)
            self._bin[record["Id"]] = (record, now)
            self._purge(now - timedelta(days=RECYCLE_DAYS))
            return dict(record)

    def deleted(self, start: datetime, end: datetime) -> tuple[list[tuple[str, datetime]], datetime]:
        """(id, deletion time) of the records deleted from `start` to `end` that the log still holds, and the
        earliest time it answers for: the newest purged deletion, at least 15 days before now."""
        with self._lock:
            now = self._clock()
            self._purge(now - timedelta(days=RECYCLE_DAYS))
            horizon = now - timedelta(days=RECYCLE_DAYS)
            earliest = max(horizon, self._purged_at or horizon)
            found = [(i, at) for i, (_, at) in self._bin.items() if start <= at <= end]
        return found, earliest

    def empty_bin(self) -> int:
        """Purge every deleted record (an admin emptying the recycle bin); how many went."""
        with self._lock:
            count = len(self._bin)
            self._purge(None)
            return count

    def _purge(self, before: datetime | None) -> None:
        """Drop the bin's records deleted before `before` (all with None), remembering the newest time dropped."""
        for record_id, (_, at) in list(self._bin.items()):
            if before is None or at < before:
                del self._bin[record_id]
                self._purged_at = max(at, self._purged_at or at)

    def _next_number(self) -> int:
        self._number += 1
        return self._number

    def _write(self, record_id: str | None, values: Record, source: str) -> Record:
        record = self._records.get(record_id) if record_id else None
        creating = record is None
        errors = self.schema.problems(values, creating) + self._bad_references(values)
        if record is not None and record.get("IsConverted"):
            errors.insert(
                0,
                {
                    "statusCode": "CANNOT_UPDATE_CONVERTED_LEAD",
                    "message": "cannot reference converted lead",
                    "fields": [],
                },
            )
        own_id = record["Id"] if record else None
        for name in self.schema.unique:
            value = values.get(name)
            other = self._index[name].get(str(value).lower()) if value not in (None, "") else None
            if other and other != own_id:
                errors.append(
                    {
                        "statusCode": "DUPLICATE_VALUE",
                        "message": f"duplicate value found: {name} duplicates value on record with id: {other}",
                        "fields": [name],
                    }
                )
        if errors:
            return {"success": False, "errors": errors}
        now = self._clock()
        user = self._owner_id if source == "API" else self._ui_user_id
        if record is None:
            record = self.schema.defaults()
            record.update(
                Id=sfid.make_id(self.schema.key_prefix, self._next_number()),
                OwnerId=self._owner_id,
                CreatedDate=now,
                CreatedById=user,
            )
            self._records[record["Id"]] = record
        before = dict(record)
        record.update(values)
        record.update(self.schema.derive(record))
        record.update(LastModifiedDate=now, SystemModstamp=now, LastModifiedById=user)
        for name, index in self._index.items():
            if before.get(name) is not None:
                index.pop(str(before[name]).lower(), None)
            if record.get(name) is not None:
                index[str(record[name]).lower()] = record["Id"]
        return {"id": record["Id"], "success": True, "errors": [], "created": creating}

    def _bad_references(self, values: Record) -> list[Record]:
        """Lookup fields naming no record of an object they may name (a Task's WhoId naming a deleted Lead)."""
        if self._references is None:
            return []
        bad = [name for name, value in values.items() if value and self.schema.fields[name]["type"] == "reference"
               and not self._references(self.schema.fields[name].get("referenceTo", []), value)]
        return [_error("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {values[n]}", [n]) for n in bad]

    # -- queries ----------------------------------------------------------------------------------

    def run(self, query: Query) -> list[Record]:
        with self._lock:
            rows = [dict(record) for record in self._records.values() if query.where is None or query.where(record)]
        for name, descending in reversed(query.order):
            # SOQL puts nulls first when ascending and last when descending.
            present = [r for r in rows if r.get(name) is not None]
            absent = [r for r in rows if r.get(name) is None]
            if self.schema.fields[name]["type"] in ("id", "reference"):
                present.sort(key=lambda r, n=name: r[n], reverse=descending)  # ids order as written: case counts
            else:
                present.sort(key=lambda r, n=name: _sort_key(r[n]), reverse=descending)
            rows = present + absent if descending else absent + present
        rows = rows[query.offset :]
        return rows if query.limit is None else rows[: query.limit]


class Locators:
    """Query results kept for paging, as Salesforce keeps a server-side cursor: (rows, batch size, object, fields)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._number = 0
            self._kept: dict[str, tuple[list[Record], int, str, list[str]]] = {}

    def open(self, rows: list[Record], batch_size: int, object: str, fields: list[str]) -> str:
        with self._lock:
            self._number += 1
            locator = sfid.make_id(sfid.QUERY_LOCATOR, self._number)
            self._kept[locator] = (rows, batch_size, object, fields)
            return locator

    def page(self, locator: str) -> tuple[list[Record], int, str, list[str]]:
        with self._lock:
            found = self._kept.get(locator)
        if found is None:
            raise RequestError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return found


def _error(code: str, message: str, fields: list[str]) -> Record:
    return {"statusCode": code, "message": message, "fields": fields}


def _failed(code: str, message: str, fields: list[str]) -> Record:
    return {"success": False, "errors": [_error(code, message, fields)]}


def _sort_key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value
