"""The SLA clock assessed (pure): reminders, the first-touch deadline, breach once, follow-ups, recycle, endings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bridge.sla.calendar import ALWAYS_OPEN, BusinessCalendar
from bridge.sla.clock import assess, counted_attempts
from bridge.sla.rules import Duration, Escalation, FollowUp, Policy, Reminder

JST = ZoneInfo("Asia/Tokyo")
CALENDAR = BusinessCalendar(lunch=(datetime(2000, 1, 1, 12).time(), datetime(2000, 1, 1, 13).time()))
STANDARD = Policy("standard", "all", None, Duration(3, "days"), (Reminder(Duration(1, "days")),),
                  Escalation(("owner", "manager", "channel")), FollowUp(3, Duration(1, "days"), "unreachable"))
# Saturday 2026-11-21 18:00 in Tokyo; Monday the 23rd is 勤労感謝の日, so the clock starts on Tuesday 9:00.
STARTED = datetime(2026, 11, 21, 18, tzinfo=JST)
DEADLINE = datetime(2026, 11, 26, 18, tzinfo=JST)  # three whole business days: Tue, Wed, Thu
REMINDER = CALENDAR.add(DEADLINE, -1, "days")  # one business day before (Wednesday evening or Thursday morning)
ONE_DAY = timedelta(hours=8)  # of business time: 9:00–18:00 less the lunch hour


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=JST)


def test_waiting_before_the_reminder_is_due_at_the_reminder():
    assert CALENDAR.between(REMINDER, DEADLINE) == ONE_DAY and at(25, 17) < REMINDER
    found = assess(STANDARD, CALENDAR, STARTED, [], frozenset(), at(24, 10))
    assert (found.state, found.actions, found.deadline, found.due) == ("waiting", (), DEADLINE, REMINDER)


def test_the_reminder_fires_once_then_the_deadline_is_next():
    found = assess(STANDARD, CALENDAR, STARTED, [], frozenset(), REMINDER)
    assert [(a.key, a.to) for a in found.actions] == [("reminder:0", ("owner",))] and found.due == DEADLINE
    again = assess(STANDARD, CALENDAR, STARTED, [], frozenset({"reminder:0"}), REMINDER + timedelta(minutes=5))
    assert again.actions == () and again.due == DEADLINE


def test_the_deadline_without_a_touch_is_a_breach_escalated_once():
    found = assess(STANDARD, CALENDAR, STARTED, [], frozenset({"reminder:0"}), DEADLINE)
    assert found.state == "breached"
    assert [(a.key, a.to) for a in found.actions] == [("breach", ("owner", "manager", "channel"))]
    assert found.due is None  # nothing more is timed: only what sales does changes it now
    later = assess(STANDARD, CALENDAR, STARTED, [], frozenset({"reminder:0", "breach"}), DEADLINE + timedelta(days=3))
    assert later.actions == () and later.state == "breached"


def test_a_late_worker_skips_reminders_that_no_longer_help():
    found = assess(STANDARD, CALENDAR, STARTED, [], frozenset(), DEADLINE + timedelta(hours=1))
    assert [a.key for a in found.actions] == ["breach"]


@pytest.mark.parametrize("kind", ["contacted", "attempted", "connected"])
def test_any_touch_before_the_deadline_stops_the_first_touch_clock(kind):
    found = assess(STANDARD, CALENDAR, STARTED, [(kind, at(25, 11))], frozenset(), DEADLINE + timedelta(days=1))
    assert found.touched_at == at(25, 11) and not [a for a in found.actions if a.key == "breach"]
    assert found.state == ("met" if kind == "connected" else "following_up")


def test_a_touch_after_the_deadline_is_late():
    found = assess(STANDARD, CALENDAR, STARTED, [("connected", at(27, 10))], frozenset({"breach"}), at(27, 11))
    assert (found.state, found.ended_by, found.actions) == ("late", "connected", ())


@pytest.mark.parametrize("kind", ["qualified", "disqualified", "converted", "won", "lost", "recycled"])
def test_what_sales_decides_ends_the_clock(kind):
    found = assess(STANDARD, CALENDAR, STARTED, [(kind, at(24, 10))], frozenset(), DEADLINE + timedelta(days=1))
    assert found.ended_by == kind and found.actions == () and found.due is None


def test_three_unanswered_attempts_a_business_day_apart_recycle_the_lead():
    tries = [("attempted", at(24, 10)), ("attempted", at(25, 10))]
    assert assess(STANDARD, CALENDAR, STARTED, tries, frozenset(), at(25, 11)).actions == ()
    third = [*tries, ("contacted", at(26, 10))]  # an email that got no answer counts too
    found = assess(STANDARD, CALENDAR, STARTED, third, frozenset(), at(26, 11))
    assert [a.key for a in found.actions] == ["recycle"] and found.attempts == 3 and found.ended_by == "recycle"
    assert assess(STANDARD, CALENDAR, STARTED, third, frozenset({"recycle"}), at(26, 12)).actions == ()


def test_attempts_closer_than_the_spacing_count_once():
    same_day = [("attempted", at(24, 10)), ("attempted", at(24, 11)), ("attempted", at(24, 17))]
    assert counted_attempts(STANDARD, CALENDAR, same_day) == 1
    # a business day after 10:00 Tuesday is 10:00 Wednesday; the weekend and the holiday do not count
    assert counted_attempts(STANDARD, CALENDAR, [("attempted", at(24, 10)), ("attempted", at(25, 9, 59))]) == 1
    assert counted_attempts(STANDARD, CALENDAR, [("attempted", at(20, 10)), ("attempted", at(24, 10))]) == 2


def test_a_connected_call_after_attempts_ends_the_follow_ups():
    events = [("attempted", at(24, 10)), ("attempted", at(25, 10)), ("connected", at(26, 10))]
    found = assess(STANDARD, CALENDAR, STARTED, events, frozenset(), at(27, 10))
    assert (found.actions, found.ended_by, found.state) == ((), "connected", "met")


def test_a_hot_lead_in_business_hours_over_a_weekend():
    hot = Policy("hot", "temperature", "hot", Duration(3, "hours"), (Reminder(Duration(1, "hours")),))
    friday = datetime(2026, 11, 27, 17, 30, tzinfo=JST)
    found = assess(hot, CALENDAR, friday, [], frozenset(), friday)
    # half an hour on Friday, then 9:00–11:30 on Monday (the lunch break starts at 12:00)
    assert found.deadline == datetime(2026, 11, 30, 11, 30, tzinfo=JST)
    assert found.due == datetime(2026, 11, 30, 10, 30, tzinfo=JST)


def test_minutes_on_a_round_the_clock_calendar_run_in_real_time():
    """How `bridge demo` and an admin trying a policy out run it: minutes, on a calendar that never closes."""
    demo = Policy("demo", "all", None, Duration(2, "minutes"), (Reminder(Duration(1, "minutes")),))
    start = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)  # 年末年始 and a national holiday: open all the same
    found = assess(demo, ALWAYS_OPEN, start, [], frozenset(), start)
    assert (found.deadline, found.due) == (start + timedelta(minutes=2), start + timedelta(minutes=1))
