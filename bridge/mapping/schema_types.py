"""Marshmallow building blocks of the mapping format; each custom field states its JSON Schema."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

SCALAR_TYPES = ["string", "number", "boolean", "null"]


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class StrictSchema(Schema):
    """Rejects unknown keys, suggesting the nearest known one: typos must not pass silently."""

    class Meta:
        unknown = EXCLUDE  # reported below with a suggestion, not marshmallow's bare message

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _unknown_keys(self, data: Any, original_data: Any, **kwargs: Any) -> None:
        if not isinstance(original_data, Mapping):
            return
        known = [f.data_key or name for name, f in self.fields.items()]
        unknown = {
            str(key): [f"unknown key{did_you_mean(str(key), known)}; known keys: {', '.join(known)}"]
            for key in original_data
            if key not in known
        }
        if unknown:
            raise ValidationError(unknown)


def scalar(value: Any) -> Any:
    """A YAML scalar (ruamel's subclasses, dates) as a plain JSON value; a collection is refused."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, date):  # YAML reads 2024-01-05 as a date; the payload carries text
        return value.isoformat()
    raise ValidationError("must be a single value (text, number, true or false), not a list or mapping")


class Scalar(fields.Field):
    """A single value: text, number, true/false, or null."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return scalar(value)

    def json_schema(self) -> dict:
        return {"type": SCALAR_TYPES}


class ObjectName(fields.Field):
    """An object name or a kintone app id: text or a whole number, kept as text."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
            raise ValidationError("must be an object name, an app id, or ${SETTING}")
        return str(value).strip()

    def json_schema(self) -> dict:
        return {"type": ["string", "integer"]}


class ValueMap(fields.Field):
    """`value: replacement` pairs, in file order; keys are compared as text, ignoring case."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping) or not value:
            raise ValidationError("must be a mapping of `value: replacement` with at least one pair")
        result: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        seen: dict[str, str] = {}
        for key, replacement in value.items():
            text = "true" if key is True else "false" if key is False else str(scalar(key))
            try:
                result[text] = scalar(replacement)
            except ValidationError as error:
                errors[str(key)] = error.messages  # type: ignore[assignment]
            folded = text.casefold()
            if folded in seen:
                errors[str(key)] = [f"same key as {seen[folded]!r} (keys ignore upper/lower case)"]
            seen[folded] = text
        if errors:
            raise ValidationError(errors)
        return result

    def json_schema(self) -> dict:
        return {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"type": SCALAR_TYPES},
        }


class TimeZoneName(fields.String):
    """An IANA time zone such as Asia/Tokyo or UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        name = super()._deserialize(value, attr, data, **kwargs)
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"unknown time zone {name!r}; use an IANA name such as Asia/Tokyo or UTC") from None
        return name

    def json_schema(self) -> dict:
        return {"type": "string", "examples": ["Asia/Tokyo", "UTC"]}
