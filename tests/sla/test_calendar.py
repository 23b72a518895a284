"""The business calendar: properties against a deliberately naive minute-by-minute count, and the known dates."""

from __future__ import annotations

import dataclasses
import functools
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.sla.calendar import ALWAYS_OPEN, TOKYO, BusinessCalendar, Closure

MINUTE = timedelta(minutes=1)
NEW_YORK = ZoneInfo("America/New_York")
DEFAULT = BusinessCalendar()
#: Odd hours, a lunch break, a dated closure and a yearly one: every rule at once.
LUNCHY = BusinessCalendar(opens=time(9, 30), closes=time(17, 45), lunch=(time(12), time(13)), closures=(
    Closure(date(2026, 8, 13), date(2026, 8, 16), "お盆"), Closure(date(2000, 10, 1), date(2000, 10, 1), "創立記念日",
                                                                  every_year=True)))
NEW_YORK_HOURS = BusinessCalendar(zone=NEW_YORK)  # across both DST changes of 2026 (03-08, 11-01)
NEW_YORK_AROUND_THE_CLOCK = dataclasses.replace(ALWAYS_OPEN, zone=NEW_YORK)
CALENDARS = {"default": DEFAULT, "lunch+closures": LUNCHY, "new-york": NEW_YORK_HOURS,
             "new-york-24h": NEW_YORK_AROUND_THE_CLOCK}


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


# ---- the naive oracle: one minute at a time, from the rules as an admin states them ----

@functools.cache
def national(year: int) -> set[date]:
    return set(holidays.country_holidays("JP", years=year))


def naive_business_day(calendar: BusinessCalendar, day: date) -> bool:
    if calendar.national_holidays and day in national(day.year):
        return False
    if calendar.year_end and (day.month, day.day) in {(12, 29), (12, 30), (12, 31), (1, 1), (1, 2), (1, 3)}:
        return False
    for first, last, _, every_year in calendar.closures:
        if (first.replace(year=day.year) <= day <= last.replace(year=day.year)) if every_year else first <= day <= last:
            return False
    return day.weekday() in calendar.workdays


def naive_open(calendar: BusinessCalendar, minute: datetime) -> bool:
    """Whether the minute starting at `minute` is business time."""
    local = minute.astimezone(calendar.zone)
    now = local.time()
    after_opening = now >= calendar.opens
    before_closing = calendar.closes == time(0) or now < calendar.closes
    at_lunch = calendar.lunch is not None and calendar.lunch[0] <= now < calendar.lunch[1]
    return naive_business_day(calendar, local.date()) and after_opening and before_closing and not at_lunch


def naive_add(calendar: BusinessCalendar, at: datetime, minutes: int) -> datetime:
    moment, counted = at, 0
    while True:
        if minutes > 0:
            counted += naive_open(calendar, moment)
            moment += MINUTE
        else:
            moment -= MINUTE
            counted -= naive_open(calendar, moment)
        if counted == minutes:
            return moment


def naive_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    minutes, moment = 0, start
    while moment < end:
        minutes += naive_open(calendar, moment)
        moment += MINUTE
    return minutes * MINUTE


def naive_next_opening(calendar: BusinessCalendar, at: datetime) -> datetime:
    while not naive_open(calendar, at):
        at += MINUTE
    return at


def on_open_time(calendar: BusinessCalendar, moment: datetime) -> bool:
    """Open, or the very end of open time (18:00, the start of lunch)."""
    return naive_open(calendar, moment) or naive_open(calendar, moment - MINUTE)


# ---- properties ----

calendars = st.sampled_from(list(CALENDARS.values()))
#: Minute-aligned instants over Golden Week, お盆, both DST changes and two year ends.
minutes_ = st.datetimes(min_value=datetime(2026, 2, 25), max_value=datetime(2027, 1, 8),
                        timezones=st.just(UTC)).map(lambda moment: moment.replace(second=0, microsecond=0))
instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))
NAIVE = settings(max_examples=60, deadline=None)


@NAIVE
@given(calendar=calendars, at=minutes_, amount=st.integers(1, 1500), sign=st.sampled_from((1, -1)))
def test_adding_minutes_agrees_with_stepping_minute_by_minute(calendar, at, amount, sign):
    # compared in UTC: Python never finds an instant in a DST fold equal to one in another zone (PEP 495)
    assert calendar.add(at, sign * amount, "minutes").astimezone(UTC) == naive_add(calendar, at, sign * amount)


@NAIVE
@given(calendar=calendars, start=minutes_, span=st.integers(0, 6 * 24 * 60))
def test_between_agrees_with_counting_minute_by_minute(calendar, start, span):
    end = start + span * MINUTE
    assert calendar.between(start, end) == naive_between(calendar, start, end)
    assert calendar.between(end, start) == timedelta(0)


@NAIVE
@given(calendar=calendars, at=minutes_)
def test_next_opening_agrees_with_stepping_minute_by_minute(calendar, at):
    assert calendar.next_opening(at).astimezone(UTC) == naive_next_opening(calendar, at)
    assert calendar.is_open(at) == naive_open(calendar, at)


@settings(deadline=None)
@given(calendar=calendars, at=instants, amount=st.integers(1, 400), unit=st.sampled_from(("hours", "minutes")),
       sign=st.sampled_from((1, -1)))
def test_between_measures_what_add_added(calendar, at, amount, unit, sign):
    result = calendar.add(at, sign * amount, unit)
    assert calendar.between(*sorted((at, result))) == timedelta(**{unit: amount})
    assert calendar.add(result, -sign * amount, unit) == (calendar.next_opening(at) if sign > 0 else
                                                          calendar.add(calendar.add(at, -amount, unit), amount, unit))


@settings(deadline=None)
@given(calendar=st.sampled_from((DEFAULT, LUNCHY)), at=instants, amount=st.integers(1, 300),
       sign=st.sampled_from((1, -1)))
def test_business_days_are_whole_days_of_open_time_and_undo_exactly(calendar, at, amount, sign):
    day = calendar.between(jst(2026, 6, 1, 0), jst(2026, 6, 2, 0))  # a Monday: every business day is as long
    result = calendar.add(at, sign * amount, "days")
    assert calendar.between(*sorted((at, result))) == amount * day
    if sign > 0:
        assert calendar.add(result, -amount, "days") == calendar.next_opening(at)


@settings(deadline=None)
@given(calendar=st.sampled_from((DEFAULT, LUNCHY)), at=instants, amount=st.integers(1, 300))
def test_a_business_day_later_is_the_same_time_of_day(calendar, at, amount):
    start, result = calendar.next_opening(at), calendar.add(at, amount, "days")
    assert calendar.is_business_day(result.date())
    if start.time() == calendar.opens:  # the opening counts as the close of the day before
        assert result.time() == calendar.closes
    else:
        assert result.time() == start.time()


@settings(deadline=None)
@given(calendar=calendars, first=instants, second=instants, amount=st.integers(-400, 400),
       unit=st.sampled_from(("days", "hours", "minutes")))
def test_add_is_monotonic_in_the_start(calendar, first, second, amount, unit):
    first, second = sorted((first, second))
    assert calendar.add(first, amount, unit) <= calendar.add(second, amount, unit)


@settings(deadline=None)
@given(calendar=calendars, at=instants, amounts=st.lists(st.integers(0, 400), min_size=2, max_size=2),
       unit=st.sampled_from(("days", "hours", "minutes")))
def test_add_is_monotonic_in_the_amount(calendar, at, amounts, unit):
    small, large = sorted(amounts)
    assert calendar.add(at, small, unit) <= calendar.add(at, large, unit)
    assert calendar.add(at, -large, unit) <= calendar.add(at, -small, unit) <= calendar.add(at, small, unit)


@settings(deadline=None)
@given(calendar=calendars, at=instants, amount=st.integers(-400, 400), unit=st.sampled_from(("days", "hours",
                                                                                             "minutes")))
def test_every_result_lies_on_open_time_of_a_business_day(calendar, at, amount, unit):
    result = calendar.add(at.replace(second=0, microsecond=0), amount, unit)
    assert result.tzinfo == calendar.zone
    assert on_open_time(calendar, result)


# ---- national holidays, year end, closures ----

#: Every national holiday of 2025–2027, written out from the Act on National Holidays (Art. 2 dates, Art. 3
#: 振替休日 and 国民の休日) and the published equinoxes, to compare with what the library says.
NATIONAL_2025_2027 = {
    2025: ["01-01", "01-13", "02-11", "02-23", "02-24", "03-20", "04-29", "05-03", "05-04", "05-05", "05-06",
           "07-21", "08-11", "09-15", "09-23", "10-13", "11-03", "11-23", "11-24"],
    2026: ["01-01", "01-12", "02-11", "02-23", "03-20", "04-29", "05-03", "05-04", "05-05", "05-06", "07-20",
           "08-11", "09-21", "09-22", "09-23", "10-12", "11-03", "11-23"],
    2027: ["01-01", "01-11", "02-11", "02-23", "03-21", "03-22", "04-29", "05-03", "05-04", "05-05", "07-19",
           "08-11", "09-20", "09-23", "10-11", "11-03", "11-23"],
}


@pytest.mark.parametrize("year", sorted(NATIONAL_2025_2027))
def test_every_national_holiday_of_2025_to_2027(year):
    listed = [day for day, reason in BusinessCalendar(year_end=False).closed_days(year) if reason.startswith("祝日")]
    assert [f"{day:%m-%d}" for day in listed] == NATIONAL_2025_2027[year]


@pytest.mark.parametrize(("day", "name"), [
    (date(2026, 5, 6), "振替休日"),  # 5/3 is a Sunday; 5/4 and 5/5 are holidays: the substitute is Wednesday
    (date(2026, 9, 22), "国民の休日"),  # between 敬老の日 (9/21) and 秋分の日 (9/23)
    (date(2025, 2, 24), "振替休日"),
    (date(2027, 3, 22), "振替休日"),
    (date(2026, 1, 1), "元日"),
    (date(2026, 3, 20), "春分の日"),
    (date(2026, 9, 23), "秋分の日"),
])
def test_substitute_and_citizens_holidays_are_closed_with_their_japanese_names(day, name):
    assert DEFAULT.closed_reason(day) == f"祝日 / national holiday: {name}"
    assert not DEFAULT.is_business_day(day)


@pytest.mark.parametrize("day", [
    date(2019, 4, 30), date(2019, 5, 1), date(2019, 5, 2), date(2019, 10, 22),  # the accession
    date(2020, 7, 23), date(2020, 7, 24), date(2020, 8, 10),  # the Olympics, moved
    date(2021, 7, 22), date(2021, 7, 23), date(2021, 8, 9),  # moved again; 8/8 was a Sunday, 8/9 its substitute
])
def test_the_special_years_of_the_cabinet_office_list(day):
    assert DEFAULT.closed_reason(day).startswith("祝日 / national holiday: ")


@pytest.mark.parametrize("day", [date(2020, 7, 20), date(2020, 8, 11), date(2021, 7, 19), date(2021, 8, 11),
                                 date(2021, 10, 11)])
def test_the_days_the_olympic_years_moved_away_from_are_business_days(day):
    assert DEFAULT.is_business_day(day)


def test_year_end_is_closed_from_12_29_to_1_3_across_the_year_boundary():
    days = [date(2026, 12, 28) + timedelta(days=n) for n in range(8)]
    assert [DEFAULT.closed_reason(day) for day in days] == [
        None, "年末年始 / year-end holidays", "年末年始 / year-end holidays", "年末年始 / year-end holidays",
        "祝日 / national holiday: 元日", "年末年始 / year-end holidays", "年末年始 / year-end holidays", None]
    assert BusinessCalendar(year_end=False).is_business_day(date(2026, 12, 29))


def test_golden_week_2026():
    week = {date(2026, 4, 29) + timedelta(days=n): DEFAULT.is_business_day(date(2026, 4, 29) + timedelta(days=n))
            for n in range(9)}
    assert [day.day for day, open_ in week.items() if open_] == [30, 1, 7]
    # the worked example of jp-calendar.md: a weekend-only clock says Monday 05-04 11:00
    assert DEFAULT.add(jst(2026, 5, 1, 17), 3, "hours") == jst(2026, 5, 7, 11)


def test_company_closures_by_name_dated_and_every_year():
    assert LUNCHY.closed_reason(date(2026, 8, 13)) == "休業日 / company closure: お盆"
    assert LUNCHY.closed_reason(date(2026, 8, 15)) == "休業日 / company closure: お盆"  # a Saturday: the name wins
    assert LUNCHY.is_business_day(date(2027, 8, 13))  # dated: 2026 only
    assert LUNCHY.closed_reason(date(2026, 10, 1)) == "休業日 / company closure: 創立記念日"
    assert LUNCHY.closed_reason(date(2027, 10, 1)) == "休業日 / company closure: 創立記念日"
    winter = BusinessCalendar(year_end=False, closures=((date(2000, 12, 28), date(2000, 1, 5), "冬休み", True),))
    assert [winter.is_business_day(date(2026, 12, d)) for d in (25, 28)] == [True, False]
    assert [winter.is_business_day(date(2027, 1, d)) for d in (5, 6)] == [False, True]


def test_closed_days_lists_all_but_plain_weekends_unless_asked():
    closed = dict(DEFAULT.closed_days(2026))
    assert closed[date(2026, 5, 3)] == "祝日 / national holiday: 憲法記念日"  # a Sunday, but a holiday
    assert date(2026, 5, 9) not in closed
    assert len(closed) == 18 + 5  # national holidays, and 12/29–12/31 and 1/2–1/3
    with_weekends = dict(DEFAULT.closed_days(2026, weekends=True))
    assert with_weekends[date(2026, 5, 9)] == "土曜日 / Saturday"
    assert with_weekends[date(2026, 5, 10)] == "日曜日 / Sunday"
    assert len(with_weekends) == len(closed) + 104 - 2  # 52 weekends, of which 1/3 and 5/3 are already listed
    assert list(with_weekends) == sorted(with_weekends)


# ---- business time ----

def test_a_lead_arriving_friday_evening_is_due_wednesday_at_closing_three_business_days_later():
    friday_evening = jst(2026, 6, 5, 20)
    due = DEFAULT.add(friday_evening, 3, "days")
    assert due == jst(2026, 6, 10, 18)  # Mon, Tue, Wed: 「3営業日以内」 = by Wednesday's close
    assert DEFAULT.between(friday_evening, due) == timedelta(hours=27)
    assert DEFAULT.add(jst(2026, 6, 8, 10), 3, "days") == jst(2026, 6, 11, 10)  # in hours: the same time, Thursday
    assert DEFAULT.add(jst(2026, 6, 8, 8), 1, "days") == jst(2026, 6, 8, 18)  # before opening: that day's close


def test_business_days_across_year_end_and_back():
    assert DEFAULT.add(jst(2026, 12, 28, 17), 3, "days") == jst(2027, 1, 6, 17)
    assert DEFAULT.add(jst(2027, 1, 6, 17), -3, "days") == jst(2026, 12, 28, 17)
    due = jst(2026, 6, 10, 18)
    assert DEFAULT.add(due, -1, "days") == jst(2026, 6, 10, 9)  # a reminder the morning the lead falls due


def test_business_hours_from_friday_1730():
    assert DEFAULT.add(jst(2026, 6, 5, 17, 30), 3, "hours") == jst(2026, 6, 8, 11, 30)
    assert DEFAULT.add(jst(2026, 6, 5, 15), 3, "hours") == jst(2026, 6, 5, 18)  # runs out at closing: 18:00


def test_the_lunch_break_is_not_business_time():
    lunch = BusinessCalendar(lunch=(time(12), time(13)))
    assert lunch.add(jst(2026, 6, 8, 11, 30), 1, "hours") == jst(2026, 6, 8, 13, 30)
    assert lunch.add(jst(2026, 6, 8, 11), 1, "hours") == jst(2026, 6, 8, 12)  # forward: the earliest instant
    assert lunch.add(jst(2026, 6, 8, 14), -1, "hours") == jst(2026, 6, 8, 13)  # backward: the latest
    assert lunch.next_opening(jst(2026, 6, 8, 12, 30)) == jst(2026, 6, 8, 13)
    assert lunch.between(jst(2026, 6, 8, 11), jst(2026, 6, 8, 14)) == timedelta(hours=2)
    assert not lunch.is_open(jst(2026, 6, 8, 12)) and lunch.is_open(jst(2026, 6, 8, 13))


def test_business_days_keep_the_clock_time_around_lunch():
    lunch = BusinessCalendar(lunch=(time(12), time(13)))
    assert lunch.add(jst(2026, 6, 8, 13), 3, "days") == jst(2026, 6, 11, 13)
    assert lunch.add(jst(2026, 6, 8, 12, 30), 3, "days") == jst(2026, 6, 11, 13)  # lunch: counted from 13:00
    assert lunch.add(jst(2026, 6, 11, 12, 30), -3, "days") == jst(2026, 6, 8, 12)  # backward: up to 12:00
    assert lunch.between(jst(2026, 6, 8, 13), jst(2026, 6, 11, 13)) == timedelta(hours=24)


def test_hours_are_half_open():
    assert DEFAULT.is_open(jst(2026, 6, 8, 9)) and not DEFAULT.is_open(jst(2026, 6, 8, 18))
    assert DEFAULT.next_opening(jst(2026, 6, 8, 18)) == jst(2026, 6, 9, 9)
    assert DEFAULT.next_opening(jst(2026, 6, 8, 10, 15)) == jst(2026, 6, 8, 10, 15)


def test_adding_zero_is_the_next_opening():
    for unit in ("days", "hours", "minutes"):
        assert DEFAULT.add(jst(2026, 6, 5, 20), 0, unit) == jst(2026, 6, 8, 9)
        assert DEFAULT.add(jst(2026, 6, 5, 11), 0, unit) == jst(2026, 6, 5, 11)


def test_new_york_across_the_spring_dst_change():
    friday = datetime(2026, 3, 6, 17, tzinfo=NEW_YORK)
    due = NEW_YORK_HOURS.add(friday, 2, "hours")
    assert due == datetime(2026, 3, 9, 10, tzinfo=NEW_YORK)
    assert (friday.utcoffset(), due.utcoffset()) == (timedelta(hours=-5), timedelta(hours=-4))
    assert NEW_YORK_HOURS.between(friday, due) == timedelta(hours=2)
    assert NEW_YORK_HOURS.add(friday, 1, "days") == datetime(2026, 3, 9, 17, tzinfo=NEW_YORK)


def test_around_the_clock_counts_real_time_across_dst():
    saturday, sunday = (datetime(2026, 3, d, 12, tzinfo=NEW_YORK) for d in (7, 8))
    assert NEW_YORK_AROUND_THE_CLOCK.between(saturday, sunday) == timedelta(hours=23)
    assert NEW_YORK_AROUND_THE_CLOCK.add(saturday, 24, "hours") == datetime(2026, 3, 8, 13, tzinfo=NEW_YORK)
    autumn = datetime(2026, 10, 31, 12, tzinfo=NEW_YORK)
    assert NEW_YORK_AROUND_THE_CLOCK.between(autumn, autumn.replace(day=1, month=11)) == timedelta(hours=25)
    assert ALWAYS_OPEN.next_opening(jst(2027, 1, 1, 3)) == jst(2027, 1, 1, 3)
    assert ALWAYS_OPEN.add(jst(2027, 1, 1, 3), 90, "minutes") == jst(2027, 1, 1, 4, 30)


def test_results_are_in_the_calendars_zone_whatever_the_input():
    result = DEFAULT.add(datetime(2026, 6, 8, 1, tzinfo=UTC), 1, "hours")  # 10:00 JST
    assert result == jst(2026, 6, 8, 11) and result.tzinfo == TOKYO


# ---- misuse ----

def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="not an aware datetime"):
        DEFAULT.add(datetime(2026, 6, 8, 10), 1, "hours")
    with pytest.raises(ValueError, match="タイムゾーン"):
        DEFAULT.next_opening(datetime(2026, 6, 8, 10))
    with pytest.raises(ValueError):
        DEFAULT.between(datetime(2026, 6, 8, 10), jst(2026, 6, 8, 11))
    with pytest.raises(TypeError, match="takes a date"):
        DEFAULT.closed_reason(jst(2026, 6, 8, 10))


def test_units_and_amounts_are_checked():
    with pytest.raises(ValueError, match="unit must be one of"):
        DEFAULT.add(jst(2026, 6, 8, 10), 1, "weeks")
    with pytest.raises(TypeError, match="whole number"):
        DEFAULT.add(jst(2026, 6, 8, 10), 1.5, "days")
    assert DEFAULT.add(jst(2026, 6, 8, 10), 1.5, "hours") == jst(2026, 6, 8, 11, 30)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"opens": time(18), "closes": time(9)}, "closes 09:00 is not after opens 18:00"),
    ({"lunch": (time(8), time(10))}, "lunch break must lie inside"),
    ({"lunch": (time(13), time(12))}, "lunch break must lie inside"),
    ({"closures": ((date(2026, 8, 16), date(2026, 8, 13), "お盆"),)}, "last day 2026-08-13 is before"),
    ({"workdays": frozenset()}, "workdays must be one or more"),
])
def test_a_calendar_that_makes_no_sense_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**kwargs)


def test_a_calendar_closed_all_year_fails_instead_of_looping():
    closed = BusinessCalendar(closures=((date(2000, 1, 1), date(2000, 12, 31), "閉鎖", True),))
    with pytest.raises(ValueError, match="no business day"):
        closed.next_opening(jst(2026, 6, 8, 10))


# ---- speed: the arithmetic steps a day at a time, and holidays are looked up once a year ----

@pytest.mark.parametrize(("amount", "unit", "limit"), [(250, "days", 0.002), (250 * 9, "hours", 0.005),
                                                        (-250 * 9 * 60, "minutes", 0.005)])
def test_a_year_of_business_time_is_quick(amount, unit, limit):
    at = jst(2026, 1, 5, 10)
    DEFAULT.add(at, amount, unit)  # holidays of the years involved, once
    timings = []
    for _ in range(5):
        started = clock.perf_counter()
        DEFAULT.add(at, amount, unit)
        timings.append(clock.perf_counter() - started)
    assert min(timings) < limit
