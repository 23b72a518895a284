"""The JSON Schema of mapping files, derived from the marshmallow schemas so the two agree."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, missing, validate

from bridge.mapping.schema import RouteSchema, TransformField
from bridge.mapping.transforms import REGISTRY

DRAFT = "http://json-schema.org/draft-07/schema#"  # the draft YAML language servers support best


def mapping_json_schema() -> dict[str, Any]:
    """The whole format, for a YAML language server to complete and check files while editing."""
    return {
        "$schema": DRAFT,
        "title": "Bridge field mapping (フィールドマッピング)",
        "description": "One route: records of `source` are upserted into `target`, field by field.",
        **object_schema(RouteSchema),
    }


def object_schema(schema_class: type[Schema]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required = []
    for name, field in schema_class().fields.items():
        key = field.data_key or name
        properties[key] = field_schema(field)
        if field.required:
            required.append(key)
    out: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        out["required"] = required
    return out


def field_schema(field: fields.Field) -> dict[str, Any]:
    out: dict[str, Any]
    if isinstance(field, TransformField):
        out = transform_schema()
    elif hasattr(field, "json_schema"):
        out = field.json_schema()
    elif isinstance(field, fields.Nested):
        out = object_schema(field.nested)  # type: ignore[arg-type]
    elif isinstance(field, fields.List):
        out = {"type": "array", "items": field_schema(field.inner)}
    else:
        out = {"type": _PLAIN_TYPES.get(type(field), "string")}
    if field.allow_none and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    for validator in field.validators:
        out.update(_validator_schema(validator, out))
    if "description" in field.metadata:
        out["description"] = field.metadata["description"]
    if field.load_default is not missing and not callable(field.load_default):
        out["default"] = field.load_default
    return out


_PLAIN_TYPES = {
    fields.String: "string",
    fields.Boolean: "boolean",
    fields.Integer: "integer",
    fields.Float: "number",
}


def _validator_schema(validator: Any, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(validator, validate.OneOf):
        return {"enum": list(validator.choices)}
    if isinstance(validator, validate.Regexp):
        return {"pattern": validator.regex.pattern}
    if isinstance(validator, validate.Length):
        prefix = "Items" if out.get("type") == "array" else "Length"
        bounds = {f"min{prefix}": validator.min, f"max{prefix}": validator.max}
        return {k: v for k, v in bounds.items() if v is not None}
    return {}


def transform_schema() -> dict[str, Any]:
    """A step: a bare name, or `name: arguments` (a scalar for transforms with a shorthand)."""
    bare = [
        name
        for name, cls in REGISTRY.items()
        if cls.Args is None or not any(f.required for f in cls.Args().fields.values())
    ]
    steps: dict[str, Any] = {}
    for name, cls in REGISTRY.items():
        if cls.Args is None:
            arguments: dict[str, Any] = {"type": ["object", "null"], "maxProperties": 0}
        else:
            arguments = object_schema(cls.Args)
            if not any(f.required for f in cls.Args().fields.values()):
                arguments["type"] = ["object", "null"]
            if cls.shorthand:
                arguments = {"anyOf": [field_schema(cls.Args().fields[cls.shorthand]), arguments]}
        steps[name] = {**arguments, "description": cls.help}
    return {
        "anyOf": [
            {
                "type": "string",
                "enum": bare,
                "description": "transform without arguments / 引数なしの変換",
            },
            {
                "type": "object",
                "properties": steps,
                "additionalProperties": False,
                "minProperties": 1,
                "maxProperties": 1,
            },
        ]
    }
