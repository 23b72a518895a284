"""The `calendar:` section of mappings/sla.yaml (marshmallow), turned into a `BusinessCalendar` once it loads.

    calendar:
      zone: Asia/Tokyo                # an IANA time zone [default Asia/Tokyo]
      hours:                          # [default 09:00-18:00, no lunch break]
        opens: "09:00"
        closes: "18:00"               # "24:00": open until midnight
        lunch: "12:00-13:00"          # optional; not business time
      workdays: [月, 火, 水, 木, 金]    # optional; or mon, tue, …, sun [default Monday to Friday]
      year_end: true                  # 年末年始 12/29–1/3 closed [default true]
      national_holidays: true         # Japan's national holidays closed [default true]
      closures:                       # company closures; national holidays need no entry
        - {name: お盆, from: 2026-08-13, to: 2026-08-16}       # YYYY-MM-DD: that year only
        - {name: 創立記念日, date: "10-01"}                     # MM-DD: every year
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from bridge.sla.calendar import MONDAY_TO_FRIDAY, TOKYO, WEEKDAYS_JA, BusinessCalendar, Closure

DEFAULT_CALENDAR = BusinessCalendar()
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_EVERY_YEAR = re.compile(r"^(\d{1,2})-(\d{1,2})$")
_WEEKDAYS = {**{name: index for index, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
             **{name: index for index, name in enumerate(WEEKDAYS_JA)}}


def _time_of_day(value: Any, *, midnight_ok: bool = False) -> time:
    """"09:00" → time(9); "24:00" → time(0) (the end of the day) where `midnight_ok`."""
    match = _TIME.match(value) if isinstance(value, str) else None
    hour, minute = (int(match[1]), int(match[2])) if match else (-1, -1)
    if midnight_ok and (hour, minute) == (24, 0):
        return time(0)
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValidationError(f'時刻は "09:00" のように書いてください / write a time as "09:00", not {value!r}'
                              + (' ("24:00" = midnight)' if midnight_ok else ""))
    return time(hour, minute)


class _Time(fields.Field):
    def __init__(self, *, midnight_ok: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.midnight_ok = midnight_ok

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> time:
        return _time_of_day(value, midnight_ok=self.midnight_ok)


class _Lunch(fields.Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[time, time]:
        parts = value.split("-") if isinstance(value, str) else []
        if len(parts) != 2:
            raise ValidationError(f'昼休みは "12:00-13:00" のように書いてください / write the lunch break as '
                                  f'"12:00-13:00", not {value!r}')
        return _time_of_day(parts[0].strip()), _time_of_day(parts[1].strip())


class _Day(fields.Field):
    """YYYY-MM-DD (that day) or MM-DD (that day every year): (date, every_year); MM-DD keeps a leap year, so
    02-29 is allowed."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[date, bool]:
        try:
            if type(value) is date:  # YAML reads an unquoted 2026-08-13 as a date
                return value, False
            if isinstance(value, str) and (match := _EVERY_YEAR.match(value.strip())):
                return date(2000, int(match[1]), int(match[2])), True
            if isinstance(value, str):
                return date.fromisoformat(value.strip()), False
        except ValueError:
            pass
        raise ValidationError(f"日付は 2026-08-13 (その年のみ) か 10-01 (毎年) のように書いてください / write a date "
                              f"as 2026-08-13 (that year) or 10-01 (every year), not {value!r}")


def _zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"不明なタイムゾーン {name!r} です。Asia/Tokyo のような IANA 名で書いてください / "
                              f"unknown time zone {name!r}; use an IANA name such as Asia/Tokyo") from None


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class HoursSchema(_Strict):
    opens = _Time(load_default=DEFAULT_CALENDAR.opens)
    closes = _Time(midnight_ok=True, load_default=DEFAULT_CALENDAR.closes)
    lunch = _Lunch(load_default=None)

    @validates_schema(skip_on_field_errors=True)
    def in_order(self, data: dict, **kwargs: Any) -> None:
        try:
            BusinessCalendar(opens=data["opens"], closes=data["closes"])
        except ValueError as error:
            raise ValidationError(str(error), "closes") from None
        if data["lunch"] is not None:
            try:
                BusinessCalendar(opens=data["opens"], closes=data["closes"], lunch=data["lunch"])
            except ValueError as error:
                raise ValidationError(str(error), "lunch") from None


class ClosureSchema(_Strict):
    name = fields.String(required=True, validate=validate.Length(min=1))
    day = _Day(data_key="date")
    first = _Day(data_key="from")
    last = _Day(data_key="to")

    @validates_schema(skip_on_field_errors=True)
    def one_day_or_a_range(self, data: dict, **kwargs: Any) -> None:
        if "day" in data:
            if "first" in data or "last" in data:
                raise ValidationError("date か from/to のどちらかにしてください / give either date or from and to, "
                                      "not both", "date")
            return
        if "first" not in data or "last" not in data:
            raise ValidationError("date か、from と to の両方を書いてください / give a date, or both from and to",
                                  "to" if "first" in data else "from")
        if data["first"][1] != data["last"][1]:
            raise ValidationError("from と to は両方 YYYY-MM-DD か、両方 MM-DD (毎年) にしてください / from and to "
                                  "must both be YYYY-MM-DD, or both MM-DD (every year)", "to")
        try:
            _closure(data)
        except ValueError as error:
            raise ValidationError(str(error), "to") from None


class CalendarSchema(_Strict):
    zone = fields.String(load_default=TOKYO.key, validate=_zone)
    hours = fields.Nested(HoursSchema, load_default=lambda: HoursSchema().load({}))
    workdays = fields.List(fields.String(validate=validate.OneOf(
        _WEEKDAYS, error="曜日は 月…日 か mon…sun です / a workday is one of 月 火 水 木 金 土 日 or mon … sun")),
        validate=validate.Length(min=1, error="営業曜日を 1 つ以上書いてください / list at least one workday"),
        load_default=None)
    year_end = fields.Boolean(load_default=True)
    national_holidays = fields.Boolean(load_default=True)  # false: a calendar for trying policies out (the demo)
    closures = fields.List(fields.Nested(ClosureSchema), load_default=list)


def _closure(data: dict) -> Closure:
    """A loaded closure entry as a Closure, checked by the calendar itself (a range that ends before it starts)."""
    (first, every_year), (last, _) = data.get("first") or data["day"], data.get("last") or data["day"]
    closure = Closure(first, last, data["name"], every_year)
    BusinessCalendar(closures=(closure,))
    return closure


def to_calendar(data: dict) -> BusinessCalendar:
    """The calendar of a section CalendarSchema loaded (an empty section: the defaults)."""
    hours = data["hours"]
    workdays = frozenset(_WEEKDAYS[name] for name in data["workdays"]) if data["workdays"] else MONDAY_TO_FRIDAY
    return BusinessCalendar(zone=ZoneInfo(data["zone"]), opens=hours["opens"], closes=hours["closes"],
                            lunch=hours["lunch"], year_end=data["year_end"],
                            closures=tuple(_closure(closure) for closure in data["closures"]),
                            workdays=workdays, national_holidays=data["national_holidays"])
