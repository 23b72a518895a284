"""One lead's SLA clock, assessed: what is due, what is overdue, and what to do now. Pure: a function of the
policy, the calendar, the sales events and `now`, so a restarted worker reaches the same answer.

- The clock starts at the handoff and counts business time on the calendar.
- The **first touch** is the first call or email sales logged (contacted, attempted or connected). Reminders
  come `before` the first-touch deadline while there is none; at the deadline without one, the clock is
  **breached** and escalated, once.
- After the first touch it counts unanswered **attempts** (attempted or contacted; one counts only when it is
  at least `spacing` after the last one counted); after the policy's number of them the lead is **recycled** to
  marketing with the policy's reason.
- It **ends** when sales reaches the person (connected), qualifies, disqualifies, converts, wins or loses the
  lead, or gives it back (recycled).

Each action has a key (`reminder:0`, `breach`, `recycle`); the caller stores the keys it acted on, in the same
transaction as the action, so each fires exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bridge.sla.calendar import BusinessCalendar
from bridge.sla.rules import Policy

#: Sales events that are a touch (the first of them stops the first-touch clock).
TOUCHES = frozenset({"contacted", "attempted", "connected"})
#: Touches that did not reach the person: they count toward the follow-up rule.
UNANSWERED = frozenset({"contacted", "attempted"})
#: Sales events after which the clock has nothing left to time.
ENDING = frozenset({"connected", "qualified", "disqualified", "converted", "won", "lost", "recycled"})

BREACH, RECYCLE = "breach", "recycle"


@dataclass(frozen=True)
class Action:
    key: str  # reminder:<n> | breach | recycle
    kind: str  # reminder | breach | recycle
    to: tuple[str, ...] = ()  # who hears (owner, manager, channel)


@dataclass(frozen=True)
class Assessment:
    state: str  # waiting | breached | following_up | met | late | ended
    deadline: datetime
    actions: tuple[Action, ...]  # to take now (not taken before)
    due: datetime | None  # when to look again without a new event; None: only a sales event changes anything
    touched_at: datetime | None
    attempts: int  # unanswered attempts counted toward the follow-up rule
    ended_by: str | None = None


def reminder_times(policy: Policy, calendar: BusinessCalendar, deadline: datetime) -> list[datetime]:
    return [calendar.add(deadline, -r.before.amount, r.before.unit) for r in policy.reminders]


def counted_attempts(policy: Policy, calendar: BusinessCalendar, events: Iterable[tuple[str, datetime]]) -> int:
    """Unanswered attempts, each at least the policy's spacing after the last one counted."""
    if policy.follow_up is None:
        return 0
    spacing, counted, last = policy.follow_up.spacing, 0, None
    for kind, at in events:
        if kind in UNANSWERED and (last is None or calendar.add(last, spacing.amount, spacing.unit) <= at):
            counted, last = counted + 1, at
    return counted


def assess(policy: Policy, calendar: BusinessCalendar, started_at: datetime, events: Iterable[tuple[str, datetime]],
           done: frozenset[str], now: datetime) -> Assessment:
    """The clock of a lead handed off at `started_at`, given its sales events (kind, when) of this cycle and the
    action keys already taken."""
    ordered = sorted(events, key=lambda e: e[1])
    deadline = calendar.add(started_at, policy.first_touch.amount, policy.first_touch.unit)
    touched_at = next((at for kind, at in ordered if kind in TOUCHES), None)
    ended = next((kind for kind, _ in ordered if kind in ENDING), None)
    attempts = counted_attempts(policy, calendar, ordered)
    late = touched_at is not None and touched_at > deadline
    if ended is not None:
        return Assessment("late" if late or BREACH in done else "met", deadline, (), None, touched_at, attempts, ended)
    if touched_at is not None:
        recycle = policy.follow_up is not None and attempts >= policy.follow_up.attempts and RECYCLE not in done
        actions = (Action(RECYCLE, RECYCLE, ("owner", "channel")),) if recycle else ()
        return Assessment("late" if late or BREACH in done else "following_up", deadline, actions, None, touched_at,
                          attempts, RECYCLE if recycle else None)
    if now >= deadline:
        actions = () if BREACH in done else (Action(BREACH, BREACH, policy.escalation.to),)
        return Assessment("breached", deadline, actions, None, None, 0)
    actions, upcoming = [], [deadline]
    for number, (reminder, at) in enumerate(zip(policy.reminders, reminder_times(policy, calendar, deadline),
                                                strict=True)):
        key = f"reminder:{number}"
        if key in done:
            continue
        if at <= now:
            actions.append(Action(key, "reminder", reminder.to))
        else:
            upcoming.append(at)
    return Assessment("waiting", deadline, tuple(actions), min(upcoming), None, 0)
