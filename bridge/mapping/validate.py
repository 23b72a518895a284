"""Checks a route for what a schema cannot see, and against the real objects when described."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.mapping.model import (
    BRIDGE_FIELDS,
    BRIDGE_PREFIX,
    SALES_FIELDS,
    FieldMap,
    Kind,
    Route,
    Side,
    Transform,
)
from bridge.mapping.schema_types import did_you_mean
from bridge.mapping.transforms import Template, ValueMapTransform, kind_of
from connectors.base import FieldInfo

KeyPath = tuple[str | int, ...]
Description = Mapping[str, FieldInfo]

_TEXT_TYPES = ("string", "text", "email", "phone", "id")
#: The value kinds each described field type takes ("any": unknown until run time, not flagged).
ACCEPTS: dict[str, frozenset[str]] = {
    **{t: frozenset({"any", "text", "date", "datetime"}) for t in _TEXT_TYPES},
    "enumeration": frozenset({"any", "text"}),
    "number": frozenset({"any", "number"}),
    "boolean": frozenset({"any", "boolean"}),
    "date": frozenset({"any", "date"}),
    "datetime": frozenset({"any", "datetime"}),
}
_KIND_WORDS = {
    "text": "text",
    "number": "a number",
    "boolean": "true/false",
    "date": "a date",
    "datetime": "a date-time",
}


@dataclass(frozen=True)
class Finding:
    path: KeyPath
    message: str
    warning: bool = False


_KIND_OF_TYPE: dict[str, Kind] = {
    **{t: "text" for t in (*_TEXT_TYPES, "enumeration")},
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
}


def kind_of_type(field_type: str) -> Kind:
    return _KIND_OF_TYPE.get(field_type, "any")


def check_fields(fields: Sequence[FieldMap]) -> list[Finding]:
    """Checks of each entry alone: direction and conflict, the chain, generators, bridge.* names."""
    return [finding for field in fields for finding in _check_entry(field)]


def check_route(
    route: Route,
    target_fields: Description | None = None,
    source_fields: Description | None = None,
    complete: bool = True,
) -> list[Finding]:
    """Checks across entries and against descriptions; `complete`: every entry loaded."""
    findings = _duplicates(route.fields, route.source, route.target)
    if target_fields is not None:
        findings += _against_target(route, target_fields, source_fields, complete)
    if source_fields is not None:
        findings += _against_source(route, source_fields)
    return findings


def _check_entry(field: FieldMap) -> Iterator[Finding]:
    i = ("fields", field.index)
    if field.direction == "both" and field.conflict is None:
        yield Finding(
            (*i, "direction"),
            "a two-way field needs `conflict:` (source_wins, target_wins, target_unless_blank or newest_wins)",
        )
    if field.conflict is not None and field.direction != "both":
        yield Finding((*i, "conflict"), f"`conflict` only applies to direction both, not {field.direction}")
    if field.reverse and field.direction != "both":
        yield Finding(
            (*i, "reverse"),
            "`reverse` only applies to direction both; for to_source use `transforms`",
        )
    if field.source is None and field.direction in ("to_source", "both"):
        yield Finding(
            (*i, "direction"),
            f"direction {field.direction} writes back to the source, so it needs `source:`",
        )
    yield from _check_generators(field, field.transforms, "transforms")
    yield from _check_generators(field, field.reverse, "reverse")
    if field.source is not None and field.source.startswith(BRIDGE_PREFIX) and field.source not in BRIDGE_FIELDS:
        yield Finding((*i, "source"), _unknown_bridge(field.source))
    if field.target.startswith(BRIDGE_PREFIX):
        if field.direction != "to_source":
            yield Finding((*i, "target"), f"{field.target} is a value Bridge provides: it can only be read "
                          "(`direction: to_source`), never written to the sales system")
        elif field.target not in SALES_FIELDS:
            yield Finding((*i, "target"), f"{field.target} is not a sales value the service provides"
                          f"{did_you_mean(field.target, list(SALES_FIELDS))}; known: {', '.join(SALES_FIELDS)}")
    for position, step in enumerate(field.transforms):
        for name in step.references():
            if name.startswith(BRIDGE_PREFIX) and name not in BRIDGE_FIELDS:
                yield Finding((*i, "transforms", position), _unknown_bridge(name))
    # A to_source chain reads the target's value: its kind is only known from a description.
    start = "any" if field.direction == "to_source" else _source_kind(field.source, None)
    yield from walk_chain(field, field.transforms, start)[0]
    yield from walk_chain(field, field.reverse, "any", "reverse")[0]
    if field.required and field.default is None:
        yield from _maps_without_default(field, "a required field")


def _unknown_bridge(name: str) -> str:
    return (
        f"{name} is not a value the service provides{did_you_mean(name, list(BRIDGE_FIELDS))}; "
        f"known: {', '.join(BRIDGE_FIELDS)}"
    )


def _check_generators(field: FieldMap, chain: tuple[Transform, ...], key: str) -> Iterator[Finding]:
    i = ("fields", field.index)
    for position, step in enumerate(chain):
        if step.generator and position > 0:
            yield Finding(
                (*i, key, position),
                f"{step.name} makes a new value and discards what comes before it; put it first",
            )
    if key != "transforms":
        return
    starts_fresh = bool(chain) and (chain[0].generator or isinstance(chain[0], Template))
    if field.source is not None and chain and chain[0].generator:
        yield Finding(
            (*i, "source"),
            f"{chain[0].name} makes the value itself, so `source: {field.source}` is never read; remove it",
        )
    elif field.source is None and not starts_fresh and field.default is None:
        yield Finding(
            i,
            "no `source`: start `transforms` with constant, template or join_name, or give `default`",
        )


def _source_kind(source: str | None, source_fields: Description | None) -> Kind:
    if source is None:
        return "any"
    if source in BRIDGE_FIELDS:
        return BRIDGE_FIELDS[source]
    described = (source_fields or {}).get(source)
    return kind_of_type(described.type) if described else "any"


def walk_chain(
    field: FieldMap, chain: tuple[Transform, ...], kind: Kind, key: str = "transforms"
) -> tuple[list[Finding], Kind, str]:
    """Follow a chain's value kinds: steps fed a kind they can't take, the final kind, its maker."""
    findings: list[Finding] = []
    producer = f"source {field.source}" if field.source else "the value"
    for position, step in enumerate(chain):
        if not step.generator and kind not in step.accepts:
            takes = ", ".join(_KIND_WORDS[k] for k in sorted(step.accepts - {"any"}))
            findings.append(
                Finding(
                    ("fields", field.index, key, position),
                    f"{step.name} cannot take {_KIND_WORDS[kind]} (from {producer}); it takes {takes}",
                )
            )
        kind = step.output_kind("any" if step.generator or kind not in step.accepts else kind)
        producer = step.name
    return findings, kind, producer


def _maps_without_default(field: FieldMap, why: str) -> Iterator[Finding]:
    for position, step in enumerate(field.transforms):
        if isinstance(step, ValueMapTransform) and not step.has_default:
            yield Finding(
                ("fields", field.index, "transforms", position),
                f"value map has no `default`: a value not listed would reach "
                f"{field.target}, {why}, unchanged; add `default:`",
            )


def _duplicates(fields: Sequence[FieldMap], source: Side, target: Side) -> list[Finding]:
    findings: list[Finding] = []
    for side, writes, key, name_of in (
        ("target", FieldMap.writes_target, target.key, lambda f: f.target),
        ("source", FieldMap.writes_source, source.key, lambda f: f.source),
    ):
        seen: dict[str, FieldMap] = {}
        for field in fields:
            name = name_of(field)
            if not writes(field) or name is None:
                continue
            if name == key:
                findings.append(
                    Finding(
                        ("fields", field.index, side),
                        f"{name} is the upsert key: it is filled from the other side's key "
                        "automatically; remove this entry",
                    )
                )
            elif name in seen:
                findings.append(
                    Finding(
                        ("fields", field.index, side),
                        f"{name} is already written by {seen[name].label}; two entries cannot write one {side} field",
                    )
                )
            else:
                seen[name] = field
    return findings


def _against_target(
    route: Route, described: Description, source_fields: Description | None, complete: bool
) -> list[Finding]:
    what = f"{route.target.system} {route.target.object}"
    findings = list(_check_key(route.target, described, what, "target"))
    written = {f.target for f in route.fields if f.writes_target()}
    for field in route.fields:
        if field.target in SALES_FIELDS:  # provided by Bridge, not a field of the object
            continue
        info = described.get(field.target)
        if info is None:
            findings.append(
                Finding(
                    ("fields", field.index, "target"),
                    f"{what} has no field {field.target}{did_you_mean(field.target, list(described))}",
                )
            )
            continue
        if not field.writes_target():
            continue
        findings += _fits(field, field.transforms, _source_kind(field.source, source_fields), info, what)
        if info.required and field.default is None and not field.required:
            findings.append(
                Finding(
                    ("fields", field.index),
                    f"{field.target} is required by {what}: add `default:` "
                    "for empty values, or `required: true` to hold back records without it",
                )
            )
            findings += _maps_without_default(field, f"required by {what}")
    if complete:
        for name, info in described.items():
            if info.required and name not in written and name != route.target.key:
                findings.append(
                    Finding(
                        ("fields",),
                        f"{name} is required by {what} but no entry writes it; add one "
                        "(a constant or a `default:` works when there is no source)",
                    )
                )
    return findings


def _against_source(route: Route, described: Description) -> list[Finding]:
    what = f"{route.source.system} {route.source.object}"
    findings = list(_check_key(route.source, described, what, "source"))
    for field in route.fields:
        names = [(("fields", field.index, "source"), field.source)] if field.source else []
        if field.writes_target():
            names += [
                (("fields", field.index, "transforms", p), n)
                for p, step in enumerate(field.transforms)
                for n in step.references()
            ]
        for path, name in names:
            if not name.startswith(BRIDGE_PREFIX) and name not in described:
                findings.append(Finding(path, f"{what} has no field {name}{did_you_mean(name, list(described))}"))
        info = described.get(field.source or "")
        if info is not None and field.writes_source():
            chain = field.reverse if field.direction == "both" else field.transforms
            findings += _fits(field, chain, "any", info, what)
    return findings


def _check_key(side: Side, described: Description, what: str, name: str) -> Iterator[Finding]:
    info = described.get(side.key)
    if info is None:
        yield Finding(
            (name, "key"),
            f"{what} has no field {side.key}{did_you_mean(side.key, list(described))}",
        )
    elif not info.unique:
        yield Finding(
            (name, "key"),
            f"{side.key} is not unique in {what}, so it cannot be the upsert key; use an "
            "external-id / unique field (重複禁止のフィールド)",
        )


def _fits(field: FieldMap, chain: tuple[Transform, ...], start: Kind, info: FieldInfo, what: str) -> list[Finding]:
    """The chain's result and the default against one described field: kind and picklist values."""
    findings: list[Finding] = []
    at = ("fields", field.index)
    accepted = ACCEPTS.get(info.type)
    _, kind, producer = walk_chain(field, chain, start)
    if accepted is not None and kind not in accepted:
        findings.append(
            Finding(
                at,
                f"{producer} gives {_KIND_WORDS[kind]}, but {info.name} in {what} is a {info.type} field",
            )
        )
    default_kind = kind_of([field.default])
    if accepted is not None and field.default is not None and default_kind not in accepted:
        findings.append(
            Finding(
                (*at, "default"),
                f"default {field.default!r} is {_KIND_WORDS[default_kind]}, but "
                f"{info.name} in {what} is a {info.type} field",
            )
        )
    if info.options:
        findings += _picklist(field, chain, info, what)
    return findings


def _picklist(field: FieldMap, chain: tuple[Transform, ...], info: FieldInfo, what: str) -> list[Finding]:
    allowed = ", ".join(info.options)
    findings = []
    literals: list[tuple[KeyPath, Any]] = (
        [(("fields", field.index, "default"), field.default)] if field.default is not None else []
    )
    literals += [(("fields", field.index, "transforms", p), v) for p, step in enumerate(chain) for v in step.literals()]
    for path, value in literals:
        if str(value) not in info.options:
            findings.append(
                Finding(
                    path,
                    f"{value!r} is not a value of picklist {info.name} in {what} "
                    f"(allowed: {allowed}){did_you_mean(str(value), list(info.options))}",
                )
            )
    if not any(step.literals() for step in chain):
        findings.append(
            Finding(
                ("fields", field.index),
                f"{info.name} in {what} is a picklist but this entry sends "
                "values as they come; a value outside its options will be refused "
                "(add a `map` to be safe)",
                warning=True,
            )
        )
    return findings
