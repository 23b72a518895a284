"""HubSpot CRM search: filterGroups, sorts, and `after` paging up to the 10,000-result cap."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any

from connectors.sandbox.hubspot_schema import ContactSchema, to_millis
from connectors.sandbox.hubspot_store import Contact, HubSpotError

# https://developers.hubspot.com/docs/api/crm/search
MAX_SEARCH_PAGE = 200
MAX_SEARCH_RESULTS = 10_000
# Sources disagree on the filter limits; these are the strictest documented ones.
MAX_FILTER_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18


class Results:
    """The sorted matches of recent queries, kept while the store stays unchanged (its version): the next page of a
    query slices them instead of filtering and sorting every contact again. A 100,000-contact read is 500 pages."""

    def __init__(self, size: int = 8) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._kept: OrderedDict[str, tuple[int, list[Contact]]] = OrderedDict()

    def get(self, key: str, version: int) -> list[Contact] | None:
        with self._lock:
            kept = self._kept.get(key)
            if kept is None or kept[0] != version:
                return None
            self._kept.move_to_end(key)
            return kept[1]

    def put(self, key: str, version: int, found: list[Contact]) -> None:
        with self._lock:
            self._kept[key] = (version, found)
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


def search(
    snapshot: Callable[[], tuple[int, list[Contact]]],
    schema: ContactSchema,
    body: dict[str, Any],
    results: Results | None = None,
) -> tuple[int, list[Contact], int | None]:
    """(total matches, this page, offset of the next page or None) for a search request body; `snapshot` gives the
    store's version and its contacts in id order."""
    groups = body.get("filterGroups") or []
    limit, offset = _paging(body)
    if (
        len(groups) > MAX_FILTER_GROUPS
        or sum(len(g.get("filters") or []) for g in groups) > MAX_FILTERS
        or any(len(g.get("filters") or []) > MAX_FILTERS_PER_GROUP for g in groups)
    ):
        raise HubSpotError(
            400,
            "VALIDATION_ERROR",
            f"Too many filters: at most {MAX_FILTER_GROUPS} filterGroups, "
            f"{MAX_FILTERS_PER_GROUP} filters per group and {MAX_FILTERS} in total",
        )
    named = [f.get("propertyName") for g in groups for f in g.get("filters") or []]
    named += [_sort_spec(s)[0] for s in body.get("sorts") or []]
    unknown = [n for n in named if n not in schema.properties]
    if unknown:
        raise HubSpotError(
            400,
            "VALIDATION_ERROR",
            f"There was a problem with the request: unknown property {unknown[0]!r}",
        )
    version, contacts = snapshot()
    key = json.dumps([groups, body.get("sorts") or [], body.get("query")], sort_keys=True, default=str)
    found = results.get(key, version) if results else None
    if found is None:
        found = _sorted(schema, _matching(schema, contacts, groups), body.get("sorts") or [])
        if results:
            results.put(key, version, found)
    page = found[offset : offset + limit]
    more = offset + limit < len(found)
    return len(found), page, offset + limit if more else None


def _matching(schema: ContactSchema, contacts: list[Contact], groups: list[dict[str, Any]]) -> list[Contact]:
    """The contacts (in id order) that pass any group's filters, all of them when there are no groups."""
    if not groups:
        return list(contacts)
    tests = [[_compile(schema, f) for f in g.get("filters") or []] for g in groups]
    return [c for c in contacts if any(all(t(c) for t in group) for group in tests)]


def _sorted(schema: ContactSchema, found: list[Contact], sorts: list[Any]) -> list[Contact]:
    """Sorted by each sort, the first one first; contacts without the property last; ties in id order."""
    for sort in reversed(sorts):
        name, descending = _sort_spec(sort)
        present = [c for c in found if c.properties.get(name)]
        absent = [c for c in found if not c.properties.get(name)]
        present.sort(key=lambda c, n=name: _typed(schema, n, c.properties[n]), reverse=descending)
        found = present + absent
    return found


def _typed(schema: ContactSchema, name: str, value: str) -> Any:
    kind = schema.properties[name]["type"]
    if kind in ("datetime", "date"):
        return to_millis(value) or 0
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return 0.0
    return value.lower()


def _compile(schema: ContactSchema, flt: dict[str, Any]) -> Callable[[Contact], bool]:
    """One filter as a test of a contact; its value is read once, not once per contact."""
    name, op = flt["propertyName"], str(flt.get("operator", "EQ")).upper()
    if op == "HAS_PROPERTY":
        return lambda c: bool(c.properties.get(name))
    if op == "NOT_HAS_PROPERTY":
        return lambda c: not c.properties.get(name)
    if op in ("IN", "NOT_IN"):
        wanted = {_typed(schema, name, str(v)) for v in flt.get("values") or []}

        def inside(c: Contact) -> bool:
            actual = c.properties.get(name)
            return (actual is not None and _typed(schema, name, actual) in wanted) == (op == "IN")

        return inside
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(flt.get("value", "")).lower().strip("*")

        def contains(c: Contact) -> bool:
            actual = c.properties.get(name)
            if actual is None:
                return op == "NOT_CONTAINS_TOKEN"
            return (token in actual.lower()) == (op == "CONTAINS_TOKEN")

        return contains
    value = _typed(schema, name, str(flt.get("value", "")))
    if op == "BETWEEN":
        high = _typed(schema, name, str(flt.get("highValue", "")))
        compare: Callable[[Any], bool] = lambda have: value <= have <= high  # noqa: E731
    elif op in _COMPARE:
        compare = partial(_COMPARE[op], value)
    else:
        raise HubSpotError(400, "VALIDATION_ERROR", f"Unknown filter operator {op}")

    def test(c: Contact) -> bool:
        actual = c.properties.get(name)
        if actual is None:
            return op == "NEQ"
        return compare(_typed(schema, name, actual))

    return test


# (filter value, the contact's value) -> whether the contact passes
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda value, have: have == value,
    "NEQ": lambda value, have: have != value,
    "LT": lambda value, have: have < value,
    "LTE": lambda value, have: have <= value,
    "GT": lambda value, have: have > value,
    "GTE": lambda value, have: have >= value,
}


def _paging(body: dict[str, Any]) -> tuple[int, int]:
    try:
        limit = int(body.get("limit", 10))
        offset = int(body.get("after") or 0)
    except (TypeError, ValueError):
        raise HubSpotError(400, "VALIDATION_ERROR", "limit and after must be integers") from None
    if not 1 <= limit <= MAX_SEARCH_PAGE:
        raise HubSpotError(400, "VALIDATION_ERROR", f"limit must be between 1 and {MAX_SEARCH_PAGE}")
    if offset < 0 or offset + limit > MAX_SEARCH_RESULTS:
        raise HubSpotError(
            400,
            "VALIDATION_ERROR",
            f"Search can page through at most {MAX_SEARCH_RESULTS} results (after + limit); "
            "narrow the filters, e.g. by a lastmodifieddate window",
        )
    return limit, offset


def _sort_spec(sort: Any) -> tuple[str, bool]:
    if isinstance(sort, str):
        return sort.lstrip("-"), sort.startswith("-")
    return str(sort.get("propertyName", "")), str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
