"""The `calendar:` section of sla.yaml: what loads, what it becomes, and what an admin is told when it is wrong."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

import pytest
from marshmallow import ValidationError

from bridge.mapping.loader import new_yaml
from bridge.sla.calendar import BusinessCalendar, Closure
from bridge.sla.calendar_schema import DEFAULT_CALENDAR, CalendarSchema, to_calendar


def load(text: str) -> BusinessCalendar:
    return to_calendar(CalendarSchema().load(new_yaml().load(text) or {}))


def problems(text: str) -> dict:
    with pytest.raises(ValidationError) as error:
        CalendarSchema().load(new_yaml().load(text))
    return error.value.messages


def test_an_empty_section_is_the_default_calendar():
    assert load("") == DEFAULT_CALENDAR == BusinessCalendar()
    assert (DEFAULT_CALENDAR.zone, DEFAULT_CALENDAR.opens, DEFAULT_CALENDAR.closes) == (
        ZoneInfo("Asia/Tokyo"), time(9), time(18))


def test_a_full_section():
    calendar = load("""
zone: America/New_York
hours: {opens: "8:30", closes: "17:30", lunch: "12:00-13:00"}
workdays: [月, 火, 水, 木, 金, sat]
year_end: false
closures:
  - {name: お盆, from: 2026-08-13, to: 2026-08-16}
  - {name: 創立記念日, date: "10-01"}
  - {name: 棚卸, date: "2026-03-31"}
  - {name: 冬休み, from: "12-28", to: "01-05"}
""")
    assert calendar == BusinessCalendar(
        zone=ZoneInfo("America/New_York"), opens=time(8, 30), closes=time(17, 30), lunch=(time(12), time(13)),
        year_end=False, workdays=frozenset(range(6)), closures=(
            Closure(date(2026, 8, 13), date(2026, 8, 16), "お盆"),
            Closure(date(2000, 10, 1), date(2000, 10, 1), "創立記念日", every_year=True),
            Closure(date(2026, 3, 31), date(2026, 3, 31), "棚卸"),
            Closure(date(2000, 12, 28), date(2000, 1, 5), "冬休み", every_year=True)))
    assert calendar.closed_reason(date(2031, 10, 1)) == "休業日 / company closure: 創立記念日"


def test_24_00_closes_at_midnight():
    assert load('hours: {opens: "00:00", closes: "24:00"}').closes == time(0)


@pytest.mark.parametrize(("text", "where", "message"), [
    ("zone: Asia/Tokio", ("zone",), "unknown time zone 'Asia/Tokio'; use an IANA name such as Asia/Tokyo"),
    ("zone: ../../etc/passwd", ("zone",), "不明なタイムゾーン"),
    ('hours: {opens: "18:00", closes: "09:00"}', ("hours", "closes"), "closes 09:00 is not after opens 18:00"),
    ('hours: {opens: "09:00", closes: "09:00"}', ("hours", "closes"), "終業 09:00 は始業 09:00 より後にしてください"),
    ('hours: {lunch: "13:00-12:00"}', ("hours", "lunch"), "the lunch break must lie inside the open hours"),
    ('hours: {lunch: "17:00-19:00"}', ("hours", "lunch"), "the lunch break must lie inside the open hours"),
    ('hours: {lunch: "noon"}', ("hours", "lunch"), 'write the lunch break as "12:00-13:00"'),
    ("hours: {opens: 9}", ("hours", "opens"), 'write a time as "09:00", not 9'),
    ('hours: {opens: "24:00"}', ("hours", "opens"), 'write a time as "09:00"'),
    ("closures: [{name: お盆, from: 2026-08-16, to: 2026-08-13}]", ("closures", 0, "to"),
     "company closure お盆: last day 2026-08-13 is before the first 2026-08-16"),
    ("closures: [{name: お盆, from: 2026-08-13}]", ("closures", 0, "to"), "give a date, or both from and to"),
    ("closures: [{name: お盆}]", ("closures", 0, "from"), "date か、from と to の両方を書いてください"),
    ("closures: [{name: x, date: 2026-10-01, from: 2026-10-01, to: 2026-10-02}]", ("closures", 0, "date"),
     "give either date or from and to, not both"),
    ('closures: [{name: x, from: "08-13", to: 2026-08-16}]', ("closures", 0, "to"),
     "from and to must both be YYYY-MM-DD, or both MM-DD (every year)"),
    ('closures: [{name: x, date: "02-30"}]', ("closures", 0, "date"), "write a date as 2026-08-13 (that year)"),
    ("closures: [{date: 2026-10-01}]", ("closures", 0, "name"), "Missing data"),
    ("workdays: [土曜]", ("workdays", 0), "a workday is one of 月 火 水 木 金 土 日 or mon … sun"),
    ("workdays: []", ("workdays",), "list at least one workday"),
    ("timezone: Asia/Tokyo", ("timezone",), "Unknown field"),
])
def test_what_an_admin_is_told(text, where, message):
    found = problems(text)
    for key in where:
        found = found[key]
    assert any(message in text for text in found), found


def test_a_leap_day_every_year_is_allowed():
    calendar = load('closures: [{name: 閏日, date: "02-29"}]')
    assert not calendar.is_business_day(date(2028, 2, 29))
    assert calendar.is_business_day(date(2028, 2, 28))
