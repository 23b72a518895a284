"""Marshmallow loading with a fast path for input that is already in canonical form.

A webhook batch holds up to 100 events and a full `Schema.load` costs tens of microseconds per
event. Most deliveries are already canonical (integers are ints, strings are strs), so we check
that against the schema's own field declarations and validators and only run the full load
(which converts values or explains what is wrong) when the check fails. One schema, one truth.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import INCLUDE, Schema, fields

_ASCII_DIGITS = re.compile(r"[0-9]+")


class Digits(fields.Integer):
    """A whole number sent as a JSON integer or as a string of ASCII digits ("123"), nothing else.

    marshmallow's Integer takes whatever int() takes, so an id written "١٢٣" or "１２３" (other scripts' digits),
    " 12", "1_000" or "+5" became 123, 12, 1000 and 5, and a float 1.5 became 1: the stored body then says
    something other than the key made from it. This field refuses all of those.
    """

    default_error_messages = {
        "invalid": "must be a whole number: a JSON integer, or a string of the ASCII digits 0-9",
        "too_large": "has too many digits",
    }

    def _validated(self, value: Any) -> int:
        if type(value) is int:  # not bool, not float
            return value
        if type(value) is str and _ASCII_DIGITS.fullmatch(value):
            try:
                return int(value)
            except ValueError:  # more digits than Python converts (4,300)
                raise self.make_error("too_large") from None
        raise self.make_error("invalid")


# Digits is here: an int is canonical for it too, and any other value takes the full load, which refuses it.
_NATIVE = {fields.Integer: int, Digits: int, fields.String: str, fields.Boolean: bool, fields.Dict: dict}


def _plan(schema: Schema) -> list[tuple[str, bool, bool, type | None, list]] | None:
    """Per field: (key, required, allow_none, native type, validators); None if the schema needs a full load."""
    plan = []
    for name, field in schema.load_fields.items():
        if getattr(schema, f"validates_{name}", None) or field.attribute not in (None, name):
            return None
        native = next((t for cls, t in _NATIVE.items() if type(field) is cls), None)
        if native is None and type(field) is not fields.Raw:
            return None  # nested or converting field: only the full load is exact
        plan.append((field.data_key or name, field.required, field.allow_none, native, list(field.validators)))
    return plan


def _is_canonical(plan, data: dict) -> bool:
    for key, required, allow_none, native, validators in plan:
        if key not in data:
            if required:
                return False
            continue
        value = data[key]
        if value is None:
            if not allow_none:
                return False
            continue
        # bool is an int subclass; marshmallow's Integer refuses True, so must we.
        if native is not None and (type(value) is not native):
            return False
        for validator in validators:
            try:
                validator(value)
            except Exception:
                return False
    return True


_PLANS: dict[int, Any] = {}


def load(schema: Schema, data: Any) -> dict:
    """`schema.load(data)`, answered without a full load when `data` is already canonical."""
    key = id(schema)
    if key not in _PLANS:
        # Schemas with schema-level hooks (validates_schema, pre/post_load) always take the full load.
        _PLANS[key] = None if schema._hooks else _plan(schema)  # noqa: SLF001
    plan = _PLANS[key]
    canonical = plan is not None and isinstance(data, dict) and _is_canonical(plan, data)
    if canonical and (schema.unknown == INCLUDE or data.keys() <= schema.load_fields.keys()):
        return data
    return schema.load(data)
