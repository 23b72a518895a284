"""Runs a route over one record: the exact payload, or a field-by-field account of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bridge.mapping.model import (
    BOTH,
    TO_SOURCE,
    TO_TARGET,
    Context,
    FieldMap,
    Route,
    TransformFailed,
    as_text,
    is_blank,
)
from bridge.mapping.problems import RecordInvalid


@dataclass(frozen=True)
class Step:
    """One transform of a row and the value it produced."""

    transform: str
    output: Any


@dataclass(frozen=True)
class Row:
    """How one payload field came about; `sent` is False when it is left out (empty or failed)."""

    field: str
    value: Any
    sent: bool
    source: str | None = None
    source_value: Any = None
    reads: tuple[tuple[str, Any], ...] = ()  # other record fields a template or name join read
    steps: tuple[Step, ...] = ()
    defaulted: bool = False
    key: bool = False
    notes: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Preview:
    """A route applied to one record: rows in file order, the payload, why it cannot be sent."""

    route: str
    direction: str
    rows: tuple[Row, ...]
    payload: dict[str, Any]
    errors: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def preview_route(route: Route, record: Mapping[str, Any], direction: str = TO_TARGET) -> Preview:
    """Apply `route` to `record` without raising: every row, with its steps, notes and errors.

    to_target reads the source record (HubSpot properties plus bridge.* values) and builds the
    target payload; to_source reads a target record and builds the write-back to the source.
    The upsert key comes first: the other side's key value under this side's key field.
    """
    if direction not in (TO_TARGET, TO_SOURCE):
        raise ValueError(f"direction must be {TO_TARGET} or {TO_SOURCE}, not {direction!r}")
    back = direction == TO_SOURCE
    read_key, write_key = (route.target.key, route.source.key) if back else (route.source.key, route.target.key)
    rows = [_key_row(read_key, write_key, record)]
    for field in route.fields:
        if field.writes_source() if back else field.writes_target():
            rows.append(_field_row(field, record, back))
    payload = {row.field: row.value for row in rows if row.sent}
    errors = tuple(f"{row.field}: {row.error}" for row in rows if row.error)
    return Preview(route.name, direction, tuple(rows), payload, errors)


def apply_route(route: Route, record: Mapping[str, Any], direction: str = TO_TARGET) -> dict[str, Any]:
    """The payload to upsert for `record`; raise RecordInvalid naming every field that stops it."""
    preview = preview_route(route, record, direction)
    if preview.errors:
        failed = tuple(row.field for row in preview.rows if row.error)
        raise RecordInvalid(route.name, list(preview.errors), failed)
    return preview.payload


def _key_row(read: str, write: str, record: Mapping[str, Any]) -> Row:
    value = record.get(read)
    if is_blank(value):
        return Row(write, None, False, read, value, key=True, error=f"upsert key {read} is empty")
    return Row(write, as_text(value).strip(), True, read, value, key=True)


def _field_row(field: FieldMap, record: Mapping[str, Any], back: bool) -> Row:
    read, write = (field.target, field.source or "") if back else (field.source, field.target)
    chain = field.reverse if back and field.direction == BOTH else field.transforms
    ctx = Context(record)
    source_value = record.get(read) if read else None
    value, steps, error = source_value, [], None
    for step in chain:
        try:
            value = step.run(value, ctx)
        except TransformFailed as failure:
            value, error = None, f"{step.name}: {failure}"
            break
        steps.append(Step(step.label(), value))
    defaulted = error is None and is_blank(value) and field.default is not None
    if defaulted:
        value = field.default
    if error is None and is_blank(value) and field.required:
        error = "required but empty (no value and no default)"
    sent = error is None and not is_blank(value)
    return Row(
        write,
        value if sent else None,
        sent,
        read,
        source_value,
        reads=tuple((name, record.get(name)) for step in chain for name in step.references()),
        steps=tuple(steps),
        defaulted=defaulted,
        notes=tuple(ctx.notes),
        error=error,
    )
