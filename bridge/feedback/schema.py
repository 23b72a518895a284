"""The shape of mappings/feedback.yaml (marshmallow), turned into `FeedbackRules` values once it loads."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from bridge.feedback.rules import EVENTS, KINDS, LIFECYCLE, FeedbackRules, LogRules, ObjectRules, Reason

_EVENT = validate.OneOf(EVENTS, error="must be one of the sales events: " + ", ".join(EVENTS))
_NAME = validate.Length(min=1)
_CODE = validate.Regexp(r"^[a-z][a-z0-9_]*$", error="reason codes are lower_snake_case, e.g. no_budget")
#: What each kind of object needs.
_NEEDS = {"status": ("status_field", "statuses"), "activity": ("lead_field", "type_field"),
          "deal": ("won_field", "closed_field")}


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def _names() -> fields.List:
    return fields.List(fields.String(validate=_NAME), load_default=list)


class ReasonSchema(_Strict):
    code = fields.String(required=True, validate=_CODE)
    ja = fields.String(required=True, validate=_NAME)
    en = fields.String(required=True, validate=_NAME)
    values = _names()


class LogSchema(_Strict):
    """A follow-up log: a table field on the record, and which of its columns say what."""

    field = fields.String(required=True, validate=_NAME)
    type_field = fields.String(required=True, validate=_NAME)
    calls = _names()
    emails = _names()
    result_field = fields.String(validate=_NAME)
    connected = _names()
    time_field = fields.String(validate=_NAME)

    @validates_schema(skip_on_field_errors=True)
    def tells_something(self, data, **kwargs):
        if not data.get("calls") and not data.get("emails"):
            raise ValidationError("a log needs calls or emails (the 対応方法 values that are a call or an email), "
                                  "else none of its rows is a touch", "calls")
        if data.get("connected") and not data.get("result_field"):
            raise ValidationError("connected results need result_field (the column with the call's result)",
                                  "result_field")


class ObjectSchema(_Strict):
    system = fields.String(required=True, validate=_NAME)
    object = fields.String(required=True, validate=_NAME)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS, error="must be one of: " + ", ".join(KINDS)))
    status_field = fields.String(validate=_NAME)
    statuses = fields.Dict(keys=fields.String(validate=_NAME), values=fields.String(validate=_EVENT))
    reason_field = fields.String(validate=_NAME)
    converted_field = fields.String(validate=_NAME)
    converted_links = fields.Dict(keys=fields.String(validate=_NAME), values=fields.String(validate=_NAME))
    lead_field = fields.String(validate=_NAME)
    type_field = fields.String(validate=_NAME)
    calls = _names()
    emails = _names()
    result_field = fields.String(validate=_NAME)
    connected = _names()
    won_field = fields.String(validate=_NAME)
    closed_field = fields.String(validate=_NAME)
    amount_field = fields.String(validate=_NAME)
    date_field = fields.String(validate=_NAME)
    time_field = fields.String(validate=_NAME)
    done = _names()
    log = fields.Nested(LogSchema)

    @validates_schema(skip_on_field_errors=False)
    def what_the_kind_needs(self, data, **kwargs):
        missing = [name for name in _NEEDS.get(data.get("kind"), ()) if not data.get(name)]
        if missing:
            raise ValidationError(f"kind {data['kind']} needs {' and '.join(missing)}", missing[0])

    @validates_schema(skip_on_field_errors=False)
    def what_only_some_kinds_take(self, data, **kwargs):
        kind, problems = data.get("kind"), {}
        if data.get("done") and kind != "activity":
            problems["done"] = ["done (the statuses of a task that was done) is for kind activity"]
        if kind == "activity" and bool(data.get("done")) != bool(data.get("status_field")):
            problems["done" if data.get("status_field") else "status_field"] = [
                "an activity's status_field and done go together: the field with the task's status and the "
                "statuses that mean it was done (e.g. Status, [Completed])"]
        if data.get("log") and kind != "status":
            problems["log"] = ["a follow-up log is kept on a record of kind status (the lead's record)"]
        if problems:
            raise ValidationError(problems)


class FeedbackSchema(_Strict):
    objects = fields.List(fields.Nested(ObjectSchema), required=True, validate=validate.Length(min=1))
    reasons = fields.List(fields.Nested(ReasonSchema), required=True, validate=validate.Length(min=1))
    lifecycle = fields.Dict(keys=fields.String(validate=_EVENT), load_default=dict, values=fields.String(
        validate=validate.OneOf(LIFECYCLE, error="must be one of HubSpot's stages: " + ", ".join(LIFECYCLE))))
    lead_status = fields.Dict(keys=fields.String(validate=_EVENT), values=fields.String(validate=_NAME),
                              load_default=dict)


def to_rules(data: dict) -> FeedbackRules:
    objects = tuple(ObjectRules(
        system=o["system"], object=o["object"], kind=o["kind"], status_field=o.get("status_field"),
        statuses=tuple((str(k), v) for k, v in (o.get("statuses") or {}).items()), reason_field=o.get("reason_field"),
        converted_field=o.get("converted_field"), converted_links=tuple((o.get("converted_links") or {}).items()),
        lead_field=o.get("lead_field"), type_field=o.get("type_field"), calls=tuple(o["calls"]),
        emails=tuple(o["emails"]), result_field=o.get("result_field"), connected=tuple(o["connected"]),
        won_field=o.get("won_field"), closed_field=o.get("closed_field"), amount_field=o.get("amount_field"),
        date_field=o.get("date_field"), time_field=o.get("time_field"), done=tuple(o["done"]),
        log=_log(o.get("log"))) for o in data["objects"])
    reasons = tuple(Reason(r["code"], r["ja"], r["en"], tuple(r["values"])) for r in data["reasons"])
    return FeedbackRules(objects, reasons, tuple(data["lifecycle"].items()), tuple(data["lead_status"].items()))


def _log(data: dict | None) -> LogRules | None:
    if not data:
        return None
    return LogRules(field=data["field"], type_field=data["type_field"], calls=tuple(data["calls"]),
                    emails=tuple(data["emails"]), result_field=data.get("result_field"),
                    connected=tuple(data["connected"]), time_field=data.get("time_field"))
