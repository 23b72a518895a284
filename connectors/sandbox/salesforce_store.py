"""Salesforce Leads in memory: collection upserts by external id, SOQL with query locators."""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from connectors.sandbox import sfid
from connectors.sandbox.salesforce_schema import LEAD_STATUSES, LeadSchema, RequestError
from connectors.sandbox.soql import Query

Record = dict[str, Any]
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm
MAX_COLLECTION = 200
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}


class LeadStore:
    def __init__(
        self,
        schema: LeadSchema,
        owner_id: str,
        clock: Callable[[], datetime],
        notify: Callable[[list[str]], None],
    ) -> None:
        self.schema = schema
        self._owner_id = owner_id
        self._clock = clock
        self._notify = notify
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._leads: dict[str, Record] = {}
            # Unique and external-id fields, case-insensitive as Salesforce compares them.
            self._index: dict[str, dict[str, str]] = {name: {} for name in self.schema.keys}
            self._number = 0
            self._locators: dict[str, tuple[list[Record], int, list[str]]] = {}

    def get(self, lead_id: str) -> Record | None:
        with self._lock:
            lead = self._leads.get(lead_id) or self._leads.get(self._by_15(lead_id))
            return dict(lead) if lead else None

    def all(self) -> list[Record]:
        with self._lock:
            return [dict(lead) for lead in self._leads.values()]

    def find(self, name: str, value: Any) -> Record | None:
        with self._lock:
            lead_id = self._index.get(name, {}).get(str(value).lower())
            return dict(self._leads[lead_id]) if lead_id else None

    def _by_15(self, lead_id: str) -> str:
        # A 15-character id names the same record as its 18-character form.
        return next((k for k in self._leads if k[:15] == lead_id[:15]), "") if len(lead_id) == 15 else ""

    # -- writes -----------------------------------------------------------------------------------

    def upsert(self, ext_field: str, records: list[Record], all_or_none: bool) -> list[Record]:
        """UpsertResults in input order; with allOrNone, any failure rolls every record back."""
        with self._lock:
            saved = (copy.deepcopy(self._leads), copy.deepcopy(self._index), self._number) if all_or_none else None
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
                self._leads, self._index, self._number = saved
                return [r if not r["success"] else {"success": False, "errors": [ROLLED_BACK]} for r in results]
        self._notify(touched)
        return results

    def save(self, lead_id: str | None, values: Record, source: str) -> Record:
        """Create (lead_id None) or update one Lead outside a collection; an UpsertResult."""
        with self._lock:
            result = self._write(lead_id, values, source)
        if result["success"]:
            self._notify([result["id"]])
        return result

    def convert(self, lead_id: str) -> Record | None:
        """Mark a Lead converted, as sales does in the UI; later API updates to it are refused."""
        with self._lock:
            lead = self._leads.get(lead_id)
            if lead is None:
                return None
            now = self._clock()
            lead.update(
                IsConverted=True,
                ConvertedDate=now.date(),
                Status=LEAD_STATUSES[2],
                LastModifiedDate=now,
                SystemModstamp=now,
            )
        self._notify([lead_id])
        return dict(lead)

    def _next_number(self) -> int:
        self._number += 1
        return self._number

    def _write(self, lead_id: str | None, values: Record, source: str) -> Record:
        lead = self._leads.get(lead_id) if lead_id else None
        creating = lead is None
        errors = self.schema.problems(values, creating)
        if lead is not None and lead.get("IsConverted"):
            errors.insert(
                0,
                {
                    "statusCode": "CANNOT_UPDATE_CONVERTED_LEAD",
                    "message": "cannot reference converted lead",
                    "fields": [],
                },
            )
        own_id = lead["Id"] if lead else None
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
        if lead is None:
            lead = {n: None for n in self.schema.fields}
            lead.update(
                Id=sfid.make_id(sfid.LEAD, self._next_number()),
                IsDeleted=False,
                IsConverted=False,
                Status=LEAD_STATUSES[0],
                OwnerId=self._owner_id,
                CreatedDate=now,
                CreatedById=self._owner_id,
            )
            self._leads[lead["Id"]] = lead
        before = dict(lead)
        lead.update(values)
        lead["Name"] = " ".join(p for p in (lead.get("FirstName"), lead.get("LastName")) if p)
        lead.update(LastModifiedDate=now, SystemModstamp=now, LastModifiedById=self._owner_id)
        for name, index in self._index.items():
            if before.get(name) is not None:
                index.pop(str(before[name]).lower(), None)
            if lead.get(name) is not None:
                index[str(lead[name]).lower()] = lead["Id"]
        return {"id": lead["Id"], "success": True, "errors": [], "created": creating}

    # -- queries ----------------------------------------------------------------------------------

    def run(self, query: Query) -> list[Record]:
        with self._lock:
            rows = [dict(lead) for lead in self._leads.values() if query.where is None or query.where(lead)]
        for name, descending in reversed(query.order):
            # SOQL puts nulls first when ascending and last when descending.
            present = [r for r in rows if r.get(name) is not None]
            absent = [r for r in rows if r.get(name) is None]
            present.sort(key=lambda r, n=name: _sort_key(r[n]), reverse=descending)
            rows = present + absent if descending else absent + present
        rows = rows[query.offset :]
        return rows if query.limit is None else rows[: query.limit]

    def open_locator(self, rows: list[Record], batch_size: int, fields: list[str]) -> str:
        """Keep a query's result for paging, as Salesforce keeps a server-side cursor."""
        with self._lock:
            locator = sfid.make_id(sfid.QUERY_LOCATOR, self._next_number())
            self._locators[locator] = (rows, batch_size, fields)
            return locator

    def page(self, locator: str) -> tuple[list[Record], int, list[str]]:
        with self._lock:
            found = self._locators.get(locator)
        if found is None:
            raise RequestError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return found


def _failed(code: str, message: str, fields: list[str]) -> Record:
    return {
        "success": False,
        "errors": [{"statusCode": code, "message": message, "fields": fields}],
    }


def _sort_key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value
