"""The business calendar (hours, weekends, Japan's national holidays, 年末年始, company closures) and business time.

The rules, in full (tests/sla/test_calendar.py checks each against a minute-by-minute count):

- **Open time** is the local span [opens, closes) of each business day, less the lunch break [start, end).
  A business day is a workday (Monday–Friday unless configured) that is not a national holiday, not in
  年末年始 (12/29–1/3, when `year_end`) and not in a company closure. In a zone with daylight saving time the
  hours are local wall-clock hours and business time is real elapsed time (a 9:00–18:00 day is 9 hours).
- **add(at, n, "hours" | "minutes")** walks from `at` in the direction of n's sign over open time only and
  stops the moment |n| is used up. Forward that is the earliest such instant: an amount that runs out as the
  office closes (or breaks for lunch) ends at 18:00 (12:00), not at the next opening, though that is the
  same business time. Backward it is the latest: 9:00 (13:00) rather than the evening (noon) before.
- **add(at, n, "days")** keeps the position in the business day (the open time since opening, so the clock
  time) and moves it n business days later (earlier, when n < 0), counted from where the walk starts:
  next_opening(at) forward, the last open instant up to `at` backward. An opening counts as the close of
  the business day before: a lead arriving Friday 20:00 starts at Monday's opening, so +3 business days is
  Wednesday 18:00, three whole business days (Mon, Tue, Wed), which is how a sales team reads 「3営業日以内」
  (Thursday 9:00 is the same business time). A lead arriving Monday 10:00 is due Thursday 10:00; one
  arriving at 12:30, during lunch, counts from 13:00. Backward, a close counts as the opening of the day
  after: Wednesday 18:00 − 1 business day is Wednesday 9:00 (a reminder "1 business day before" arrives
  the morning the lead falls due).
- **add(at, 0, unit)** is next_opening(at): the moment a clock started at `at` begins to count.
- So for every n ≠ 0, between(at, add(at, n, unit)) is |n| units of open time (for days: |n| times a
  business day's open time, except around a DST change that falls inside open hours), the result lies on
  open time (open, or the very end of an open span: 18:00, or 12:00 before lunch), and add is monotonic.
"""

from __future__ import annotations

import functools
from calendar import isleap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import islice
from types import MappingProxyType
from typing import NamedTuple
from zoneinfo import ZoneInfo

import holidays

TOKYO = ZoneInfo("Asia/Tokyo")
UNITS = ("days", "hours", "minutes", "seconds")  # seconds: to try a policy out in real time
MONDAY_TO_FRIDAY = frozenset(range(5))  # date.weekday(): Monday is 0
EVERY_DAY = frozenset(range(7))
WEEKDAYS_JA = ("月", "火", "水", "木", "金", "土", "日")
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
YEAR_END = "年末年始 / year-end holidays"
_DAY_OFF = tuple(f"{ja}曜日 / {en}" for ja, en in zip(WEEKDAYS_JA, WEEKDAYS_EN, strict=True))
_DAY = timedelta(days=1)
_ZERO = timedelta(0)
#: More closed days in a row than this means the calendar has no business day left (e.g. closures all year).
_MAX_CLOSED_RUN = 800


class Closure(NamedTuple):
    """A company closure (お盆, 創立記念日) from `first` to `last` inclusive; `every_year`: on those month-days
    every year (their years are then ignored, and a range may wrap the year end)."""

    first: date
    last: date
    name: str
    every_year: bool = False

    def covers(self, day: date) -> bool:
        if not self.every_year:
            return self.first <= day <= self.last
        month_day, start, end = (day.month, day.day), (self.first.month, self.first.day), (self.last.month,
                                                                                        self.last.day)
        return start <= month_day <= end if start <= end else (month_day >= start or month_day <= end)


@functools.cache
def japanese_holidays(year: int) -> Mapping[date, str]:
    """Japan's national holidays of `year` with their Japanese names, 振替休日 and 国民の休日 included.

    The `holidays` library matches the Cabinet Office list (syukujitsu.csv); it knows 1949–2099, and other
    years have none."""
    return MappingProxyType(dict(holidays.country_holidays("JP", years=year, language="ja")))  # cached: read-only


def _of_day(moment: time) -> timedelta:
    return timedelta(hours=moment.hour, minutes=moment.minute, seconds=moment.second, microseconds=moment.microsecond)


@dataclass(frozen=True)
class BusinessCalendar:
    """When a business is open, in `zone`; all instants in and out are aware datetimes (naive is an error).

    `closes=time(0)` means midnight at the end of the day (24:00): with `opens=time(0)` the day is open around
    the clock (see ALWAYS_OPEN). National holidays are Japan's, whatever the zone (`national_holidays=False`:
    none)."""

    zone: tzinfo = TOKYO
    opens: time = time(9)
    closes: time = time(18)
    lunch: tuple[time, time] | None = None
    year_end: bool = True
    closures: tuple[Closure, ...] = ()
    workdays: frozenset[int] = MONDAY_TO_FRIDAY
    national_holidays: bool = True
    _spans: tuple[tuple[timedelta, timedelta], ...] = field(default=(), init=False, repr=False, compare=False)
    _closed_by_year: dict[int, dict[date, str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "closures", tuple(Closure(*closure) for closure in self.closures))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        opens, closes = _of_day(self.opens), _of_day(self.closes) or _DAY
        spans = [(opens, closes)]
        if closes <= opens:
            raise ValueError(f"終業 {self.closes:%H:%M} は始業 {self.opens:%H:%M} より後にしてください / "
                             f"closes {self.closes:%H:%M} is not after opens {self.opens:%H:%M}")
        if self.lunch is not None:
            start, end = (_of_day(moment) for moment in self.lunch)
            if not opens < start < end < closes:
                raise ValueError("昼休みは営業時間内の 開始 < 終了 にしてください / the lunch break must lie inside "
                                 "the open hours and end after it starts")
            spans = [(opens, start), (end, closes)]
        object.__setattr__(self, "_spans", tuple(spans))
        for closure in self.closures:
            if not closure.every_year and closure.last < closure.first:
                raise ValueError(f"休業日 {closure.name}: 終了日が開始日より前です / company closure {closure.name}: "
                                 f"last day {closure.last} is before the first {closure.first}")
        if not self.workdays or not self.workdays <= EVERY_DAY:
            raise ValueError("営業曜日を 0 (月) から 6 (日) で 1 つ以上指定してください / workdays must be one or "
                             "more of 0 (Monday) to 6 (Sunday)")

    # ---- days ----

    def closed_reason(self, day: date) -> str | None:
        """Why `day` is closed, e.g. "祝日 / national holiday: 元日"; None on a business day. A national holiday
        wins over 年末年始, which wins over a company closure, which wins over a day off by weekday."""
        if isinstance(day, datetime):
            raise TypeError("closed_reason takes a date; for an instant pass at.astimezone(calendar.zone).date()")
        closed = self._closed_by_year.get(day.year)
        if closed is None:  # computed once per year; a race only computes the same dict twice
            closed = self._closed_by_year[day.year] = self._closed_in(day.year)
        return closed.get(day)

    def is_business_day(self, day: date) -> bool:
        return self.closed_reason(day) is None

    def closed_days(self, year: int, weekends: bool = False) -> list[tuple[date, str]]:
        """Every closed day of `year` with its reason, in date order; plain days off by weekday (Saturdays,
        Sundays) only when `weekends`. A weekend that is also a holiday or closure is always listed."""
        self.closed_reason(date(year, 1, 1))
        return [(day, reason) for day, reason in sorted(self._closed_by_year[year].items())
                if weekends or reason not in _DAY_OFF]

    def _closed_in(self, year: int) -> dict[date, str]:
        national = japanese_holidays(year) if self.national_holidays else {}
        first = date(year, 1, 1).toordinal()
        reasons = {}
        for ordinal in range(first, first + (366 if isleap(year) else 365)):
            day = date.fromordinal(ordinal)
            reason = self._reason(day, national)
            if reason is not None:
                reasons[day] = reason
        return reasons

    def _reason(self, day: date, national: Mapping[date, str]) -> str | None:
        if day in national:
            return f"祝日 / national holiday: {national[day]}"
        if self.year_end and ((day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)):
            return YEAR_END
        for closure in self.closures:
            if closure.covers(day):
                return f"休業日 / company closure: {closure.name}"
        return None if day.weekday() in self.workdays else _DAY_OFF[day.weekday()]

    def _business_days(self, day: date, step: int) -> Iterator[date]:
        """`day` when it is a business day, then every business day after it (step 1) or before it (step -1)."""
        closed_run, step_by = 0, _DAY * step
        while True:
            if self.is_business_day(day):
                closed_run = 0
                yield day
            else:
                closed_run += 1
                if closed_run > _MAX_CLOSED_RUN:
                    raise ValueError(f"{_MAX_CLOSED_RUN} 日以上営業日がありません / no business day in "
                                     f"{_MAX_CLOSED_RUN} days up to {day}: check the closures and workdays")
            day += step_by

    def _shift(self, day: date, count: int) -> date:
        """The `count`-th business day after (before, when negative) the business day `day`."""
        return next(islice(self._business_days(day, 1 if count >= 0 else -1), abs(count), None))

    # ---- instants ----

    def is_open(self, at: datetime) -> bool:
        """Whether `at` is in business hours (opening instant included, closing instant not)."""
        moment = self._utc(at)
        day = self._local_date(moment)
        return self.is_business_day(day) and any(start <= moment < end for start, end in self._intervals(day))

    def next_opening(self, at: datetime) -> datetime:
        """`at` itself when it is in business hours, else the next moment business time starts."""
        return self._next_open(self._utc(at))[1].astimezone(self.zone)

    def add(self, at: datetime, amount: int, unit: str) -> datetime:
        """`at` plus `amount` business days, hours or minutes (negative: minus), in the calendar's zone; the
        rules are at the top of this module. Days must be whole; hours and minutes may be fractions."""
        moment = self._utc(at)
        if unit not in UNITS:
            raise ValueError(f"単位は {', '.join(UNITS)} のいずれかです / unit must be one of: {', '.join(UNITS)}")
        if unit == "days" and not isinstance(amount, int):
            raise TypeError(f"営業日数は整数です / business days must be a whole number, not {amount!r}")
        if amount == 0:
            return self.next_opening(at)
        if unit == "days":
            result = self._add_days(moment, amount)
        elif amount > 0:
            result = self._walk_forward(moment, timedelta(**{unit: amount}))
        else:
            result = self._walk_back(moment, timedelta(**{unit: -amount}))
        return result.astimezone(self.zone)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The business time from `start` to `end`: the open time between them (zero when end <= start)."""
        first, last = self._utc(start), self._utc(end)
        total = _ZERO
        if last <= first:
            return total
        day, last_day = self._local_date(first), self._local_date(last)
        while day <= last_day:
            if self.is_business_day(day):
                for open_, close in self._intervals(day):
                    overlap = min(close, last) - max(open_, first)
                    if overlap > _ZERO:
                        total += overlap
            day += _DAY
        return total

    def _utc(self, at: datetime) -> datetime:
        if not isinstance(at, datetime) or at.utcoffset() is None:
            raise ValueError(f"日時にタイムゾーンがありません / {at!r} is not an aware datetime; give it a time "
                             f"zone (e.g. tzinfo=calendar.zone)")
        return at.astimezone(UTC)

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of business day `day`, in UTC. Wall-clock arithmetic on the local midnight gives
        local 9:00 even across a DST change; converting it to UTC then counts real time."""
        midnight = datetime.combine(day, time(0), self.zone)
        return [((midnight + start).astimezone(UTC), (midnight + end).astimezone(UTC)) for start, end in self._spans]

    def _next_open(self, moment: datetime) -> tuple[date, datetime]:
        """The business day and instant where open time next runs from `moment` (the instant itself if open)."""
        for day in self._business_days(self._local_date(moment), 1):
            for start, end in self._intervals(day):
                if end > moment:
                    return day, max(start, moment)
        raise AssertionError("unreachable: _business_days never ends")

    def _last_open(self, moment: datetime) -> tuple[date, datetime]:
        """The business day and instant where open time last ran up to `moment` (the instant itself if open)."""
        for day in self._business_days(self._local_date(moment), -1):
            for start, end in reversed(self._intervals(day)):
                if start <= moment:
                    return day, min(end, moment)
        raise AssertionError("unreachable: _business_days never ends")

    def _position(self, day: date, moment: datetime) -> timedelta:
        """The open time of business day `day` before `moment`."""
        return sum((max(_ZERO, min(end, moment) - start) for start, end in self._intervals(day)), _ZERO)

    def _at_position(self, day: date, position: timedelta, earliest: bool) -> datetime:
        """The instant of business day `day` with `position` open time before it: the earliest or the latest such
        instant (12:00 or 13:00 around lunch). Past the day's open time (a short DST day): its close."""
        intervals = self._intervals(day)
        for start, end in intervals:
            if position < end - start or (earliest and position == end - start):
                return start + position
            position -= end - start
        return intervals[-1][1]

    def _add_days(self, moment: datetime, count: int) -> datetime:
        if count > 0:
            day, start = self._next_open(moment)
            if start == self._intervals(day)[0][0]:  # an opening is the close of the business day before
                return self._intervals(self._shift(day, count - 1))[-1][1]
        else:
            day, start = self._last_open(moment)
            if start == self._intervals(day)[-1][1]:  # a close is the opening of the business day after
                return self._intervals(self._shift(day, count + 1))[0][0]
        # The same position, at the same clock time: 13:00 stays 13:00 and a 12:00 lunch start stays 12:00.
        at_an_end = any(start == end for _, end in self._intervals(day))
        return self._at_position(self._shift(day, count), self._position(day, start), earliest=at_an_end)

    def _walk_forward(self, moment: datetime, remaining: timedelta) -> datetime:
        for day in self._business_days(self._local_date(moment), 1):
            for start, end in self._intervals(day):
                if end <= moment:
                    continue
                start = max(start, moment)
                if remaining <= end - start:
                    return start + remaining
                remaining -= end - start
        raise AssertionError("unreachable: _business_days never ends")

    def _walk_back(self, moment: datetime, remaining: timedelta) -> datetime:
        for day in self._business_days(self._local_date(moment), -1):
            for start, end in reversed(self._intervals(day)):
                if start >= moment:
                    continue
                end = min(end, moment)
                if remaining <= end - start:
                    return end - remaining
                remaining -= end - start
        raise AssertionError("unreachable: _business_days never ends")


#: Open around the clock, every day (demos and tests measured in minutes).
ALWAYS_OPEN = BusinessCalendar(opens=time(0), closes=time(0), year_end=False, workdays=EVERY_DAY,
                               national_holidays=False)
