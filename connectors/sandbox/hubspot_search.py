"""HubSpot CRM search: filterGroups, sorts, and `after` paging up to the 10,000-result cap."""

from __future__ import annotations

from typing import Any

from connectors.sandbox.hubspot_schema import ContactSchema, to_millis
from connectors.sandbox.hubspot_store import Contact, HubSpotError

# https://developers.hubspot.com/docs/api/crm/search
MAX_SEARCH_PAGE = 200
MAX_SEARCH_RESULTS = 10_000
# Sources disagree on the filter limits; these are the strictest documented ones.
MAX_FILTER_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18


def search(
    contacts: list[Contact], schema: ContactSchema, body: dict[str, Any]
) -> tuple[int, list[Contact], int | None]:
    """(total matches, this page, offset of the next page or None) for a search request body."""
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
    found = [
        c
        for c in contacts
        if not groups or any(all(_matches(schema, c, f) for f in g.get("filters") or []) for g in groups)
    ]
    found.sort(key=lambda c: int(c.id))
    for sort in reversed(body.get("sorts") or []):
        name, descending = _sort_spec(sort)
        present = [c for c in found if c.properties.get(name)]
        absent = [c for c in found if not c.properties.get(name)]
        present.sort(key=lambda c, n=name: _typed(schema, n, c.properties[n]), reverse=descending)
        found = present + absent
    page = found[offset : offset + limit]
    more = offset + limit < len(found)
    return len(found), page, offset + limit if more else None


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


def _matches(schema: ContactSchema, contact: Contact, flt: dict[str, Any]) -> bool:
    name, op = flt["propertyName"], str(flt.get("operator", "EQ")).upper()
    actual = contact.properties.get(name)
    if op == "HAS_PROPERTY":
        return bool(actual)
    if op == "NOT_HAS_PROPERTY":
        return not actual
    if op in ("IN", "NOT_IN"):
        wanted = {_typed(schema, name, str(v)) for v in flt.get("values") or []}
        inside = actual is not None and _typed(schema, name, actual) in wanted
        return inside if op == "IN" else not inside
    if actual is None:
        return op in ("NEQ", "NOT_CONTAINS_TOKEN")
    have, value = _typed(schema, name, actual), _typed(schema, name, str(flt.get("value", "")))
    if op == "BETWEEN":
        return value <= have <= _typed(schema, name, str(flt.get("highValue", "")))
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(flt.get("value", "")).lower().strip("*")
        return (token in actual.lower()) == (op == "CONTAINS_TOKEN")
    compare = {
        "EQ": have == value,
        "NEQ": have != value,
        "LT": have < value,
        "LTE": have <= value,
        "GT": have > value,
        "GTE": have >= value,
    }
    if op not in compare:
        raise HubSpotError(400, "VALIDATION_ERROR", f"Unknown filter operator {op}")
    return compare[op]


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
