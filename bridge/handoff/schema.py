"""The shape of mappings/handoff.yaml (marshmallow), turned into `Rules` values once it loads."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from bridge.handoff.rules import (
    ATTRIBUTE_OPS,
    EXCLUSION_OPS,
    STAGES,
    AttributeRule,
    BehaviourRule,
    Criterion,
    Exclusion,
    Rules,
    Temperature,
)

_ACTIVITY = validate.Regexp(r"^[a-z][a-z0-9_]*$", error="activity types are lower_snake_case, e.g. pricing_page_visit")
_DAYS = validate.Range(min=1, max=3650)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def _exactly_one_op(data: dict, ops: tuple[str, ...]) -> str:
    given = [op for op in ops if op in data]
    if len(given) != 1:
        found = ", ".join(given) if given else "none"
        raise ValidationError(f"give exactly one test of: {', '.join(ops)} (found {found})", "_schema")
    return given[0]


class AttributeSchema(_Strict):
    name = fields.String(required=True, validate=validate.Length(min=1))
    field = fields.String(required=True, validate=validate.Length(min=1))
    points = fields.Integer(required=True, validate=validate.Range(min=-1000, max=1000))
    group = fields.String()
    equals = fields.Raw()
    one_of = fields.List(fields.Raw(), validate=validate.Length(min=1))
    contains_any = fields.List(fields.String(validate=validate.Length(min=1)), validate=validate.Length(min=1))
    at_least = fields.Float()
    at_most = fields.Float()
    greater_than = fields.Float()
    less_than = fields.Float()
    present = fields.Boolean(validate=validate.Equal(True, error="write `present: true`, or use `absent: true`"))
    absent = fields.Boolean(validate=validate.Equal(True, error="write `absent: true`, or use `present: true`"))

    @validates_schema
    def one_test(self, data, **kwargs):
        _exactly_one_op(data, ATTRIBUTE_OPS)


class BehaviourSchema(_Strict):
    activity = fields.String(required=True, validate=_ACTIVITY)
    points = fields.Integer(required=True, validate=validate.Range(min=-1000, max=1000))
    cap = fields.Integer(validate=validate.Range(min=0))
    window_days = fields.Integer(validate=_DAYS)
    min_count = fields.Integer(validate=validate.Range(min=1))


class ExclusionSchema(_Strict):
    name = fields.String(required=True, validate=validate.Length(min=1))
    field = fields.String(required=True, validate=validate.Length(min=1))
    domain_in = fields.List(fields.String(validate=validate.Length(min=1)), validate=validate.Length(min=1))
    equals = fields.List(fields.String(), validate=validate.Length(min=1))
    one_of = fields.List(fields.String(), validate=validate.Length(min=1))
    contains_any = fields.List(fields.String(validate=validate.Length(min=1)), validate=validate.Length(min=1))

    @validates_schema
    def one_test(self, data, **kwargs):
        _exactly_one_op(data, EXCLUSION_OPS)


class CriterionSchema(_Strict):
    name = fields.String(required=True, validate=validate.Length(min=1))
    score_at_least = fields.Integer()
    stage_at_least = fields.String(validate=validate.OneOf(STAGES))
    activities = fields.Dict(keys=fields.String(validate=_ACTIVITY),
                             values=fields.Integer(validate=validate.Range(min=1)))
    within_days = fields.Integer(validate=_DAYS)

    @validates_schema
    def has_a_condition(self, data, **kwargs):
        if not any(data.get(k) for k in ("score_at_least", "stage_at_least", "activities")):
            raise ValidationError("needs at least one of score_at_least, stage_at_least, activities", "_schema")


class StagesSchema(_Strict):
    awareness = fields.Integer(load_default=0)
    interest = fields.Integer(load_default=50)
    consideration = fields.Integer(load_default=80)

    @validates_schema
    def ascending(self, data, **kwargs):
        values = [data[s] for s in STAGES]
        if values != sorted(values) or len(set(values)) != len(values):
            raise ValidationError("thresholds must rise: awareness < interest < consideration", "_schema")


class TemperatureSchema(_Strict):
    window_days = fields.Integer(load_default=14, validate=_DAYS)
    warm = fields.Integer(load_default=20, validate=validate.Range(min=0))
    hot = fields.Integer(load_default=50, validate=validate.Range(min=0))

    @validates_schema
    def hot_above_warm(self, data, **kwargs):
        if data["hot"] <= data["warm"]:
            raise ValidationError("hot must be above warm", "hot")


class RulesSchema(_Strict):
    description = fields.String()
    attributes = fields.List(fields.Nested(AttributeSchema), load_default=list)
    behaviours = fields.List(fields.Nested(BehaviourSchema), load_default=list)
    stages = fields.Nested(StagesSchema, load_default=lambda: StagesSchema().load({}))
    temperature = fields.Nested(TemperatureSchema, load_default=lambda: TemperatureSchema().load({}))
    exclusions = fields.List(fields.Nested(ExclusionSchema), load_default=list)
    handoff = fields.List(fields.Nested(CriterionSchema), required=True, validate=validate.Length(min=1))
    property_activities = fields.Dict(keys=fields.String(), values=fields.String(validate=_ACTIVITY),
                                      load_default=dict)


def to_rules(data: dict) -> Rules:
    """Validated data → Rules."""
    def op_of(item: dict, ops: tuple[str, ...]) -> str:
        return next(op for op in ops if op in item)

    attributes = tuple(
        AttributeRule(a["name"], a["field"], (op := op_of(a, ATTRIBUTE_OPS)), a.get(op) if op not in
                      ("present", "absent") else None, a["points"], a.get("group"))
        for a in data["attributes"]
    )
    behaviours = tuple(BehaviourRule(b["activity"], b["points"], b.get("cap"), b.get("window_days"),
                                     b.get("min_count", 1)) for b in data["behaviours"])
    exclusions = tuple(Exclusion(e["name"], e["field"], (op := op_of(e, EXCLUSION_OPS)), tuple(e[op]))
                       for e in data["exclusions"])
    criteria = tuple(Criterion(c["name"], c.get("score_at_least"), c.get("stage_at_least"),
                               tuple((c.get("activities") or {}).items()), c.get("within_days"))
                     for c in data["handoff"])
    stages = tuple((s, data["stages"][s]) for s in STAGES)
    return Rules(attributes, behaviours, stages, Temperature(**data["temperature"]), exclusions, criteria,
                 tuple(data["property_activities"].items()))
