"""`bridge calendar`: is a day a business day, T + N business days/hours/minutes, the closed days of a year."""

from __future__ import annotations

import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

import click
from marshmallow import EXCLUDE, Schema, fields

from bridge.config import mappings_folder, read_environment
from bridge.kernel.env import EnvReader
from bridge.mapping.problems import Problem
from bridge.mapping.rulesfile import check_rules_text
from bridge.sla.calendar import WEEKDAYS_JA, BusinessCalendar
from bridge.sla.calendar_schema import DEFAULT_CALENDAR, CalendarSchema, to_calendar

SLA_FILE = "sla.yaml"
#: What an admin may type for a unit, and the unit it means.
UNIT_NAMES = {"days": "days", "day": "days", "営業日": "days", "hours": "hours", "hour": "hours",
              "時間": "hours", "minutes": "minutes", "minute": "minutes", "分": "minutes"}
UNIT_LABELS = {"days": "営業日 / business days", "hours": "営業時間 / business hours",
               "minutes": "営業分 / business minutes"}
#: Closed days listed under an answer of `add` before the rest is only counted.
MAX_LISTED = 12


class _CalendarSection(Schema):
    """sla.yaml as far as the calendar goes: its other sections belong to the SLA rules and are not read here."""

    class Meta:
        unknown = EXCLUDE

    calendar = fields.Nested(CalendarSchema, allow_none=True)


def read_calendar(folder: Path) -> tuple[BusinessCalendar | None, str, list[Problem]]:
    """The calendar in `folder`/sla.yaml's `calendar:` section, else the defaults; where it came from; problems."""
    path = folder / SLA_FILE
    if not path.is_file():
        return DEFAULT_CALENDAR, f"既定値 / defaults ({path} がありません / not found)", []
    try:
        section, problems = check_rules_text(
            path.read_text(encoding="utf-8"), path, _CalendarSection(), lambda data: data.get("calendar"),
            lambda _: (), "sla.yaml is `key: value` lines; the calendar goes under `calendar:`")
    except ValueError as error:  # ruamel builds an unquoted date such as 2026-02-30 and fails without a mark
        return None, "", [Problem(str(path), None, "YAML", str(error))]
    if problems:
        return None, "", problems
    if section is None:
        return DEFAULT_CALENDAR, f"既定値 / defaults ({path} に calendar: がありません / has no calendar: section)", []
    return to_calendar(section), f"{path} の calendar: / the calendar: section of {path}", []


def summary(calendar: BusinessCalendar) -> str:
    """E.g. "Asia/Tokyo 09:00–18:00, 昼休み / lunch 12:00–13:00, 年末年始 closed, 2 closure(s)"."""
    parts = [f"{calendar.zone} {_hours(calendar.opens, calendar.closes)}"]
    if calendar.lunch:
        parts.append(f"昼休み / lunch {_hours(*calendar.lunch)}")
    if sorted(calendar.workdays) != list(range(5)):
        parts.append("営業曜日 / workdays " + "".join(WEEKDAYS_JA[day] for day in sorted(calendar.workdays)))
    parts.append("年末年始 12/29–1/3 休み / closed" if calendar.year_end else "年末年始も営業 / open at year end")
    if calendar.closures:
        parts.append(f"休業日 / company closures: {', '.join(closure.name for closure in calendar.closures)}")
    return ", ".join(parts)


def _hours(start: time, end: time) -> str:
    return f"{start:%H:%M}–{'24:00' if end == time(0) else f'{end:%H:%M}'}"


def _day(day: date) -> str:
    return f"{day.isoformat()} ({WEEKDAYS_JA[day.weekday()]})"


def _instant(moment: datetime) -> str:
    return f"{_day(moment.date())} {moment:%H:%M}"


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60}:{minutes % 60:02d} ({minutes} 分 / minutes)"


@click.group("calendar")
@click.pass_context
def calendar(context: click.Context) -> None:
    """The business calendar of the SLA timers (mappings/sla.yaml `calendar:`, else the defaults): business
    days, business-time arithmetic, closed days.
    営業日カレンダー: 営業日の確認、営業日・営業時間の加算、休業日の一覧。"""
    folder, _ = mappings_folder(EnvReader(read_environment()).text("BRIDGE_MAPPINGS"))
    business, source, problems = read_calendar(folder)
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(problems)} problem(s) / 件の問題があります", err=True)
        sys.exit(1)
    click.echo(f"カレンダー / calendar: {source}: {summary(business)}")
    context.obj = business


@calendar.command()
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.pass_obj
def check(business: BusinessCalendar, day: datetime) -> None:
    """Is DAY (YYYY-MM-DD) a business day, and if not, why. 営業日かどうか、休みならその理由。"""
    reason = business.closed_reason(day.date())
    if reason is None:
        lunch = f", 昼休み / lunch {_hours(*business.lunch)}" if business.lunch else ""
        click.echo(f"{_day(day.date())} 営業日 / business day: {_hours(business.opens, business.closes)}{lunch}")
        return
    opening = business.next_opening(datetime.combine(day.date(), time(0), business.zone))
    click.echo(f"{_day(day.date())} 休業日 / closed: {reason}")
    click.echo(f"次の営業開始 / next opening: {_instant(opening)}")


@calendar.command(context_settings={"ignore_unknown_options": True})  # so that a negative AMOUNT is an argument
@click.argument("start")
@click.argument("amount", type=int)
@click.argument("unit", type=click.Choice(list(UNIT_NAMES), case_sensitive=False))
@click.pass_obj
def add(business: BusinessCalendar, start: str, amount: int, unit: str) -> None:
    """START + AMOUNT business days, hours or minutes (negative: minus). START is ISO 8601, e.g. 2026-12-25T17:00;
    without an offset it is in the calendar's zone. 開始日時に営業日・営業時間・営業分を加えます。"""
    try:
        begin = datetime.fromisoformat(start)
    except ValueError:
        raise click.BadParameter(f"日時は 2026-12-25T17:00 のように書いてください / write a date and time as "
                                 f"2026-12-25T17:00, not {start!r}", param_hint="START") from None
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=business.zone)
    begin = begin.astimezone(business.zone)
    unit = UNIT_NAMES[unit.lower()]
    result = business.add(begin, amount, unit)
    sign = "+" if amount >= 0 else "−"
    click.echo(f"{_instant(begin)} {sign} {abs(amount)} {UNIT_LABELS[unit]}")
    click.echo(f"= {_instant(result)} {business.zone}")
    first, last = sorted((begin, result))
    click.echo(f"営業時間にして / business time between: {_duration(business.between(first, last))}")
    passed = _closed_between(business, first.date(), last.date())
    if passed:
        click.echo("間の休業日 (土日を除く) / closed days passed, weekends aside:")
        for day, reason in passed[:MAX_LISTED]:
            click.echo(f"  {_day(day)} {reason}")
        if len(passed) > MAX_LISTED:
            click.echo(f"  … ほか {len(passed) - MAX_LISTED} 日 / and {len(passed) - MAX_LISTED} more")


def _closed_between(business: BusinessCalendar, first: date, last: date) -> list[tuple[date, str]]:
    return [(day, reason) for year in range(first.year, last.year + 1) for day, reason in business.closed_days(year)
            if first <= day <= last]


@calendar.command()
@click.argument("year", type=click.IntRange(1, 9998))
@click.option("--weekends", is_flag=True, help="also list plain Saturdays and Sundays / 土日も表示")
@click.pass_obj
def closed(business: BusinessCalendar, year: int, weekends: bool) -> None:
    """The closed days of YEAR, one per line: date, weekday, reason. その年の休業日の一覧。"""
    days = business.closed_days(year, weekends=weekends)
    for day, reason in days:
        click.echo(f"{_day(day)} {reason}")
    aside = "" if weekends else " (土日を除く / weekends aside)"
    click.echo(f"{len(days)} 日 / days closed{aside}")
