"""SLA clocks through the worker's timers stage, on an injected clock (nothing sleeps): started at the handoff,
reminded, breached and escalated once, stopped by each first-touch event from each system, recycled after the
third unanswered attempt, resumed after a crash without skipping or doubling, recomputed when a policy changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.kernel.clock import parse_iso
from tests.helpers import make_worker

# The tests' clock starts on Saturday 2026-11-21 18:00 in Tokyo (09:00Z); Monday the 23rd is a national holiday.
# The shipped standard policy: first touch within 3 business days (Thursday 26th 18:00 JST), reminder 1 before.
DEADLINE = datetime(2026, 11, 26, 9, tzinfo=UTC)
SF_LEAD = "00Q5g00000AbCdEFGH"


@pytest.fixture
def timers(app, clock):
    """The worker's timers stage alone (its notices and writes stay queued in the outbox, where tests read them)."""
    worker = make_worker(app, clock)
    return worker.lanes["timers"][0]


def handed_off(store, clock, hubspot_id: str = "501", temperature: str = "warm") -> int:
    with store.unit_of_work() as work:
        lead = work.leads.touch(clock(), hubspot_id=hubspot_id)
        work.leads.save_record(lead, 1, hubspot_id, f"c{hubspot_id}@example.co.jp",
                               json.dumps({"lastname": "山田", "firstname": "太郎"}), clock())
        decision = {"score": 120, "stage": "decision", "temperature": temperature, "excluded": None,
                    "qualifies": True, "criterion": "pricing"}
        work.leads.save_decision(lead, 1, decision, "handoff by pricing", clock())
        assert work.leads.mark_handed_off(lead, "pricing", "handoff by pricing", clock())
        work.leads.link_record(lead, "salesforce", "Lead", SF_LEAD, clock())
        work.clocks.start(lead, 1, clock())
    return lead


def sales_event(store, clock, lead: int, kind: str, system: str = "salesforce", cycle: int = 1) -> None:
    """What the feedback stage does with a sales event: store it, wake the lead's clock."""
    with store.unit_of_work() as work:
        work.sales.add_event(lead, cycle, kind, system, "Task" if system == "salesforce" else "7", "1", clock(),
                             None, None, {}, clock())
        work.clocks.wake(lead, clock())


def story(store, lead: int) -> list[str]:
    return [entry["kind"] for entry in store.clocks.story(lead)]


def queued(store, kind: str) -> list[tuple[int, str]]:
    return [(item["lead_id"], item["target"]) for item in store.outbox.items(kind=kind, newest_first=False)]


def run_until(timers, clock, moment: datetime, step: timedelta = timedelta(minutes=1)) -> None:
    """Move the clock to `moment` a step at a time, running the stage at each step (as the worker's lane does)."""
    while clock() < moment:
        clock.advance(seconds=min(step, moment - clock()).total_seconds())
        while timers.run_once():
            pass


def test_a_handoff_starts_the_clock_and_the_deadline_is_three_business_days(store, clock, timers):
    lead = handed_off(store, clock)
    assert timers.run_once() == 1
    (row,) = store.clocks.of_lead(lead)
    assert (row["policy"], row["state"], parse_iso(row["deadline"])) == ("standard", "waiting", DEADLINE)
    assert story(store, lead) == ["started"]
    assert timers.run_once() == 0  # nothing due until the reminder


def test_a_hot_lead_gets_the_hot_policy(store, clock, timers):
    lead = handed_off(store, clock, temperature="hot")
    timers.run_once()
    row = store.clocks.current(lead)
    # 3 business hours from Tuesday 9:00 (Monday is a holiday): 12:00 JST, just before lunch
    assert (row["policy"], parse_iso(row["deadline"])) == ("hot", datetime(2026, 11, 24, 3, tzinfo=UTC))


def test_reminded_once_then_breached_and_escalated_once(store, clock, timers):
    lead = handed_off(store, clock)
    timers.run_once()
    run_until(timers, clock, DEADLINE - timedelta(minutes=1), step=timedelta(hours=1))
    assert story(store, lead) == ["started", "reminder"]
    run_until(timers, clock, DEADLINE + timedelta(minutes=1))
    run_until(timers, clock, DEADLINE + timedelta(days=2), step=timedelta(hours=3))
    assert story(store, lead) == ["started", "reminder", "breach"]
    breach = store.clocks.story(lead)[-1]
    assert parse_iso(breach["at"]) - DEADLINE <= timedelta(seconds=60)  # acted on within a minute of the deadline
    assert json.loads(breach["details"])["to"] == ["owner", "manager", "channel"]
    assert store.clocks.current(lead)["state"] == "breached"
    assert queued(store, "sla_notice") == [(lead, "slack")]  # one notice item; both entries go with it
    assert [e["kind"] for e in store.clocks.to_send([lead])] == ["reminder", "breach"]
    assert queued(store, "feedback") == [(lead, "hubspot")]  # HubSpot hears bridge_sla_status = breached


@pytest.mark.parametrize(("system", "kind"), [("salesforce", "contacted"), ("salesforce", "attempted"),
                                              ("salesforce", "connected"), ("kintone", "contacted"),
                                              ("kintone", "attempted"), ("kintone", "connected")])
def test_each_first_touch_from_each_system_stops_the_clock(store, clock, timers, system, kind):
    lead = handed_off(store, clock)
    timers.run_once()
    clock.advance(days=3)  # Tuesday 18:00 JST
    sales_event(store, clock, lead, kind, system)
    assert timers.run_once() == 1  # woken by the event, not by a time
    run_until(timers, clock, DEADLINE + timedelta(days=5), step=timedelta(hours=2))
    row = store.clocks.current(lead)
    assert parse_iso(row["touched_at"]) == datetime(2026, 11, 24, 9, tzinfo=UTC)
    assert "breach" not in story(store, lead) and "reminder" not in story(store, lead)
    assert row["state"] == ("met" if kind == "connected" else "following_up")
    assert (row["status"] == "done") == (kind == "connected")
    touched = next(e for e in store.clocks.story(lead) if e["kind"] == "touched")
    assert json.loads(touched["details"]) == {"after": "8:00", "in_time": True}  # Tuesday's business day


def test_three_unanswered_attempts_recycle_the_lead_to_marketing(store, clock, timers):
    lead = handed_off(store, clock)
    timers.run_once()
    clock.advance(days=3)
    for _ in range(3):  # Tuesday, Wednesday, Thursday evening: a business day apart
        sales_event(store, clock, lead, "attempted")
        timers.run_once()
        clock.advance(days=1)
    assert story(store, lead) == ["started", "touched", "recycle"]
    row = store.clocks.current(lead)
    assert (row["status"], row["ended_by"], row["follow_ups"]) == ("done", "recycle", 3)
    lead_row = store.leads.get(lead)
    assert lead_row["handed_off_at"] is None and lead_row["cycle"] == 2  # it may qualify and be handed off again
    (recycled,) = [e for e in store.sales.events(lead) if e["kind"] == "recycled"]
    assert (recycled["system"], recycled["reason"], recycled["cycle"]) == ("bridge", "unreachable", 1)
    assert queued(store, "feedback") == [(lead, "hubspot")]
    assert queued(store, "sla_update") == [(lead, "hubspot-contact-to-salesforce-lead")]  # Status: Recycled
    assert queued(store, "sla_notice") == [(lead, "slack")]
    run_until(timers, clock, clock() + timedelta(days=7), step=timedelta(hours=6))
    assert story(store, lead).count("recycle") == 1


def test_attempts_the_same_day_count_once(store, clock, timers):
    lead = handed_off(store, clock)
    timers.run_once()
    clock.advance(days=3)
    for _ in range(3):
        sales_event(store, clock, lead, "attempted")
        timers.run_once()
        clock.advance(hours=1)
    assert store.clocks.current(lead)["follow_ups"] == 1 and "recycle" not in story(store, lead)


def test_a_worker_killed_mid_pass_leaves_nothing_skipped_nor_doubled(app, store, clock, timers):
    leads = [handed_off(store, clock, hubspot_id=str(600 + n)) for n in range(3)]
    timers.run_once()
    clock.advance(seconds=(DEADLINE - clock()).total_seconds() + 5)
    # A worker claims the due clocks and dies before settling them (its lease is all that is left of it).
    dead = store.clocks.claim("dead-worker", clock(), 120, 500)
    assert len(dead) == 3
    survivor = make_worker(app, clock, owner="second-worker").lanes["timers"][0]
    assert survivor.run_once() == 0  # still leased to the dead worker: not taken twice
    clock.advance(seconds=121)  # the lease runs out
    assert survivor.run_once() == 3
    for lead in leads:
        assert story(store, lead).count("breach") == 1
        assert parse_iso(store.clocks.story(lead)[-1]["at"]) - DEADLINE < timedelta(minutes=3)
    assert survivor.run_once() == 0 and timers.run_once() == 0


def test_a_sales_event_during_an_assessment_is_not_lost(store, clock, timers):
    lead = handed_off(store, clock)
    timers.run_once()
    assert store.clocks.claim("w", clock(), 120, 10) == []  # nothing due: the clock waits for the reminder
    clock.advance(hours=1)
    with store.unit_of_work() as work:
        work.clocks.wake(lead, clock())
    (claimed,) = store.clocks.claim("w", clock(), 120, 10)
    sales_event(store, clock, lead, "connected")  # arrives while "w" holds the clock
    with store.unit_of_work() as work:
        work.clocks.settle(claimed, "w", clock(), policy="standard", state="waiting", deadline=DEADLINE,
                           touched_at=None, follow_ups=0, done=[], due=DEADLINE, ended_by=None)
    assert timers.run_once() == 1  # due now, not at the deadline: the event is assessed
    assert store.clocks.current(lead)["state"] == "met"


def test_a_policy_change_recomputes_open_deadlines_and_logs_it(app, store, clock, timers):
    lead = handed_off(store, clock)
    timers.run_once()
    sla = Path(app.extensions["bridge"].settings.mappings_dir) / "sla.yaml"
    sla.write_text(sla.read_text(encoding="utf-8").replace("first_touch: 3 business days",
                                                           "first_touch: 2 business days"), encoding="utf-8")
    timers.mappings.refresh()
    assert timers.run_once() == 1
    row = store.clocks.current(lead)
    assert parse_iso(row["deadline"]) == datetime(2026, 11, 25, 9, tzinfo=UTC)  # Wednesday 18:00 JST
    moved = store.clocks.story(lead)[-1]
    assert moved["kind"] == "deadline_moved"
    assert json.loads(moved["details"])["from"] == "2026-11-26T09:00:00.000Z"


def test_without_sla_yaml_the_timers_are_off(app, store, clock, timers):
    (Path(app.extensions["bridge"].settings.mappings_dir) / "sla.yaml").unlink()
    timers.mappings.refresh()
    handed_off(store, clock)
    assert timers.run_once() == 0
