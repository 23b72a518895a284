"""The shape of mappings/sla.yaml (marshmallow), turned into `SlaRules` values once it loads."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from bridge.sla.calendar_schema import CalendarSchema, to_calendar
from bridge.sla.rules import (
    RECIPIENTS,
    TASK_SYSTEMS,
    Duration,
    Escalation,
    FollowUp,
    Owner,
    Policy,
    Reminder,
    SlaRules,
)

_NAME = validate.Length(min=1)
#: "3 business days", "3 days", "3営業日", "4 business hours", "4時間", "30 minutes", "30分" (and seconds, 秒).
_DURATION = re.compile(r"^\s*(\d+)\s*(?:business\s+)?"
                       r"(days?|hours?|minutes?|seconds?|営業日|営業時間|時間|営業分|分|秒)\s*$", re.IGNORECASE)
_UNITS = {"day": "days", "営業日": "days", "hour": "hours", "営業時間": "hours", "時間": "hours",
          "minute": "minutes", "営業分": "minutes", "分": "minutes", "second": "seconds", "秒": "seconds"}
_DURATION_HELP = ("「3営業日」「4営業時間」「30分」のように書いてください / write a duration like \"3 business days\", "
                  "\"4 business hours\" or \"30 minutes\" (all counted in business time)")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class _Duration(fields.Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Duration:
        found = _DURATION.match(str(value)) if isinstance(value, str | int) else None
        if not found or int(found[1]) < 1:
            raise ValidationError(_DURATION_HELP)
        unit = found[2].lower()
        return Duration(int(found[1]), _UNITS.get(unit.rstrip("s"), _UNITS.get(unit, unit)))


_TASK_HELP = ("task は true (引き渡し先のすべての営業システム)、false、または [salesforce, kintone] のような一覧です / "
              "task is true (every sales system the lead was handed to), false, or a list such as "
              "[salesforce, kintone]")


class _Task(fields.Field):
    """`task: true` (every sales system), `false`, or the systems by name: where the owner also gets a to-do."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[str, ...]:
        if isinstance(value, bool):
            return TASK_SYSTEMS if value else ()
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ValidationError(_TASK_HELP)
        unknown = [v for v in value if v not in TASK_SYSTEMS]
        if unknown:
            raise ValidationError(f"{', '.join(map(repr, unknown))}: 営業システムは salesforce (ToDo) と kintone "
                                  "(コメント) です / a task can be left in salesforce (a Task) or kintone (a comment)")
        return tuple(dict.fromkeys(value))


def _recipients(**kwargs: Any) -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(
        RECIPIENTS, error="宛先は owner (担当者), manager (上長), channel (チャンネル) です / must be one of: "
                          + ", ".join(RECIPIENTS))), **kwargs)


def _writes() -> fields.Dict:
    """system → {field: value}: what to write to the lead's record in that sales system."""
    return fields.Dict(keys=fields.String(validate=_NAME),
                       values=fields.Dict(keys=fields.String(validate=_NAME), values=fields.String()),
                       load_default=dict)


class ReminderSchema(_Strict):
    before = _Duration(required=True)
    to = _recipients(load_default=lambda: ["owner"])
    task = _Task(load_default=())


class EscalationSchema(_Strict):
    to = _recipients(load_default=lambda: list(RECIPIENTS))
    reassign = _writes()
    task = _Task(load_default=())


class FollowUpSchema(_Strict):
    attempts = fields.Integer(load_default=3, validate=validate.Range(min=1, max=20))
    spacing = _Duration(load_default=Duration(1, "days"))
    reason = fields.String(load_default="unreachable", validate=_NAME)


class AppliesSchema(_Strict):
    temperature = fields.String(validate=validate.OneOf(("hot", "warm", "cold")))
    criterion = fields.String(validate=_NAME)

    @validates_schema
    def one(self, data: dict, **kwargs: Any) -> None:
        if len(data) != 1:
            raise ValidationError("temperature か criterion のどちらか 1 つを書いてください / name exactly one of "
                                  "temperature or criterion (leave applies_to out for every lead)")


class PolicySchema(_Strict):
    name = fields.String(required=True, validate=_NAME)
    applies_to = fields.Nested(AppliesSchema, load_default=None)
    first_touch = _Duration(required=True)
    reminders = fields.List(fields.Nested(ReminderSchema), load_default=list)
    escalation = fields.Nested(EscalationSchema, load_default=lambda: EscalationSchema().load({}))
    follow_up = fields.Nested(FollowUpSchema, load_default=lambda: FollowUpSchema().load({}), allow_none=True)


class OwnerSchema(_Strict):
    name = fields.String(required=True, validate=_NAME)
    slack = fields.String(validate=validate.Regexp(r"^[UW][A-Z0-9]{2,}$", error=(
        "Slack のメンバー ID (U で始まる) を書いてください / a Slack member id, e.g. U012AB3CD (profile → ⋮ → "
        "Copy member ID)")), load_default=None)
    manager = fields.String(validate=_NAME, load_default=None)


class SlaSchema(_Strict):
    calendar = fields.Nested(CalendarSchema, load_default=lambda: CalendarSchema().load({}))
    policies = fields.List(fields.Nested(PolicySchema), required=True, validate=validate.Length(
        min=1, error="ポリシーを 1 つ以上書いてください / list at least one policy"))
    owners = fields.Dict(keys=fields.String(validate=_NAME), values=fields.Nested(OwnerSchema), load_default=dict)
    owner_fields = fields.Dict(keys=fields.String(validate=_NAME), values=fields.String(validate=_NAME),
                               load_default=dict)
    recycle = _writes()


def _duration(value: Any) -> Duration:
    return value if isinstance(value, Duration) else _Duration().deserialize(value)


def _policy(data: dict) -> Policy:
    applies = data["applies_to"] or {}
    segment, value = next(iter(applies.items())) if applies else ("all", None)
    follow = data["follow_up"]
    escalation = data["escalation"]
    return Policy(
        name=data["name"], segment=segment, value=value, first_touch=data["first_touch"],
        reminders=tuple(Reminder(r["before"], tuple(r["to"]), r["task"]) for r in data["reminders"]),
        escalation=Escalation(tuple(escalation["to"]), escalation["reassign"], escalation["task"]),
        follow_up=None if follow is None else FollowUp(follow["attempts"], _duration(follow["spacing"]),
                                                         follow["reason"]))


def to_rules(data: dict) -> SlaRules:
    owners = {id: Owner(id, o["name"], o["slack"], o["manager"]) for id, o in data["owners"].items()}
    return SlaRules(calendar=to_calendar(data["calendar"]), policies=tuple(_policy(p) for p in data["policies"]),
                    owners=owners, owner_fields=data["owner_fields"], recycle=data["recycle"])
