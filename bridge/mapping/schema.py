"""The mapping file format as marshmallow schemas: one definition for loader and JSON Schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, validate

from bridge.mapping.model import CONFLICT_RULES, DIRECTIONS, TO_TARGET, Transform
from bridge.mapping.schema_types import ObjectName, Scalar, StrictSchema, did_you_mean
from bridge.mapping.transforms import REGISTRY


def _described(text: str) -> dict[str, str]:
    return {"description": text}


class TransformField(fields.Field):
    """One chain step: a bare name (`trim`) or `name: arguments` (`map: {…}`, `constant: Web`)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Transform:
        if isinstance(value, str):
            name, args = value, None
        elif isinstance(value, Mapping) and len(value) == 1:
            name, args = next(iter(value.items()))
        else:
            raise ValidationError("write a transform as a name (trim) or as `name: arguments` (map: {...})")
        cls = REGISTRY.get(str(name))
        if cls is None:
            raise ValidationError(
                f"unknown transform {name!r}{did_you_mean(str(name), list(REGISTRY))}; known: {', '.join(REGISTRY)}"
            )
        if cls.Args is None:
            if args not in (None, {}):
                raise ValidationError({str(name): [f"{name} takes no arguments"]})
            return cls()
        if args is None:
            args = {}
        elif not isinstance(args, Mapping):
            if cls.shorthand is None:
                raise ValidationError({str(name): [f"{name} takes its arguments as a mapping"]})
            args = {cls.shorthand: args}
        try:
            return cls(**cls.Args().load(args))
        except ValidationError as error:
            raise ValidationError({str(name): error.messages}) from None


class SideSchema(StrictSchema):
    system = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[a-z][a-z0-9_]*$",
            error="must be a system name in lower case, e.g. hubspot, salesforce, kintone",
        ),
        metadata=_described("システム / system: hubspot, salesforce, kintone"),
    )
    object = ObjectName(
        required=True,
        metadata=_described(
            "オブジェクト (contacts, Lead) または kintone アプリID (数字か ${KINTONE_APP_ID}) / "
            "object name, or a kintone app id as a number or ${SETTING}"
        ),
    )
    key = fields.String(
        required=True,
        validate=validate.Length(min=1, error="must not be empty"),
        metadata=_described("更新キー (重複不可のフィールド) / upsert key: a unique field naming the record"),
    )


class FieldSchema(StrictSchema):
    source = fields.String(
        allow_none=True,
        metadata=_described(
            "元のフィールド (bridge.score などサービスの値も可)。固定値なら省略 / source field, "
            "or a bridge.* value; omit for constant, template or join_name"
        ),
    )
    target = fields.String(
        required=True,
        validate=validate.Length(min=1, error="must not be empty"),
        metadata=_described("書き込み先 (API参照名・フィールドコード) / target field: API name or field code"),
    )
    direction = fields.String(
        load_default=TO_TARGET,
        validate=validate.OneOf(DIRECTIONS),
        metadata=_described("同期の向き / direction: to_target, to_source, both (双方向), none (停止 / off)"),
    )
    conflict = fields.String(
        validate=validate.OneOf(CONFLICT_RULES),
        metadata=_described(
            "双方向で食い違ったとき / for direction both, who wins: source_wins, target_wins, "
            "target_unless_blank (空でなければ先方), newest_wins (新しい方)"
        ),
    )
    transforms = fields.List(
        TransformField(),
        allow_none=True,
        load_default=list,
        metadata=_described("変換 (上から順に適用) / transforms, applied top to bottom"),
    )
    reverse = fields.List(
        TransformField(),
        allow_none=True,
        load_default=list,
        metadata=_described("双方向のとき先方→元の変換 / for direction both: transforms from target back to source"),
    )
    required = fields.Boolean(
        load_default=False,
        metadata=_described("必須: 空ならこのレコードを送らない / required: if empty, the record is not sent"),
    )
    default = Scalar(metadata=_described("空のときの値 / value used when the result is empty"))


class RouteSchema(StrictSchema):
    description = fields.String(metadata=_described("説明 / what this route is for"))
    enabled = fields.Boolean(load_default=True, metadata=_described("有効 / enabled: false stops this route"))
    source = fields.Nested(SideSchema, required=True, metadata=_described("連携元 / where records come from"))
    target = fields.Nested(SideSchema, required=True, metadata=_described("連携先 / where records are written"))
    field_maps = fields.List(
        fields.Nested(FieldSchema),
        required=True,
        data_key="fields",
        validate=validate.Length(min=1, error="needs at least one entry"),
        metadata=_described("フィールド対応 / field entries"),
    )
