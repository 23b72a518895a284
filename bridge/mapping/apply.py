"""Runs a route over one record: the exact payload, or a field-by-field account of it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


def field_value(field: FieldMap, record: Mapping[str, Any], back: bool = False) -> tuple[Any, bool]:
    """What `field` sends for `record` (the other way when `back`), and whether it is sent at all (not empty, no
    transform failed): the value a payload holds, without a preview's account of how. For comparing many records."""
    read = field.target if back else field.source
    chain = field.reverse if back and field.direction == BOTH else field.transforms
    value, error = _run(chain, record.get(read) if read else None, Context(record), None)
    value, error = _finish(field, value, error)
    return (value, True) if error is None and not is_blank(value) else (None, False)


def value_function(field: FieldMap, back: bool = False) -> Callable[[Mapping[str, Any]], tuple[Any, bool]]:
    """`field_value` of one field as a function of the record, built once: a chain of text steps only (trim, nfkc,
    lower …) runs as plain string calls, with the same results — for comparing a million records."""
    read = field.target if back else field.source
    chain = field.reverse if back and field.direction == BOTH else field.transforms
    if not chain or not all(step.text_only for step in chain):
        return lambda record: field_value(field, record, back)
    steps = [step.apply for step in chain]  # type: ignore[attr-defined]
    plain = field.default is None and not field.required  # an empty value is simply not sent

    def text_chain(record: Mapping[str, Any]) -> tuple[Any, bool]:
        value = record.get(read) if read else None
        if value is not None:
            value = as_text(value)
            for step in steps:
                value = step(value)
            if plain:
                return (value, True) if value.strip() else (None, False)
        value, error = _finish(field, value, None)
        return (value, True) if error is None and not is_blank(value) else (None, False)

    return text_chain


def _run(chain: tuple, value: Any, ctx: Context, steps: list[Step] | None) -> tuple[Any, str | None]:
    """`value` through the transforms of `chain`; the first failure stops it (value None, why)."""
    for step in chain:
        try:
            value = step.run(value, ctx)
        except TransformFailed as failure:
            return None, f"{step.name}: {failure}"
        if steps is not None:
            steps.append(Step(step.label(), value))
    return value, None


def _finish(field: FieldMap, value: Any, error: str | None) -> tuple[Any, str | None]:
    """The field's default for an empty value; an empty required field is an error."""
    if error is None and is_blank(value) and field.default is not None:
        value = field.default
    if error is None and is_blank(value) and field.required:
        error = "required but empty (no value and no default)"
    return value, error


def _field_row(field: FieldMap, record: Mapping[str, Any], back: bool) -> Row:
    read, write = (field.target, field.source or "") if back else (field.source, field.target)
    chain = field.reverse if back and field.direction == BOTH else field.transforms
    ctx = Context(record)
    source_value = record.get(read) if read else None
    steps: list[Step] = []
    value, error = _run(chain, source_value, ctx, steps)
    defaulted = error is None and is_blank(value) and field.default is not None
    value, error = _finish(field, value, error)
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
