"""A policy or calendar changed while the worker was stopped still recomputes every open deadline when it starts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.kernel.clock import parse_iso
from tests.helpers import make_worker
from tests.sla.test_timers import handed_off, run_until, story

# The tests' clock starts on Saturday 2026-11-21 18:00 JST; Monday the 23rd is a national holiday. Three business
# days: Thursday 26th 18:00 JST; two: Wednesday 25th 18:00 JST.
THREE_DAYS, TWO_DAYS = datetime(2026, 11, 26, 9, tzinfo=UTC), datetime(2026, 11, 25, 9, tzinfo=UTC)


def _edit(app, old: str, new: str) -> None:
    sla = Path(app.extensions["bridge"].settings.mappings_dir) / "sla.yaml"
    sla.write_text(sla.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def test_a_policy_changed_while_the_worker_was_down_is_applied_when_it_starts(app, store, clock):
    lead = handed_off(store, clock)
    assert make_worker(app, clock).lanes["timers"][0].run_once() == 1  # then that worker stops
    assert parse_iso(store.clocks.current(lead)["deadline"]) == THREE_DAYS
    _edit(app, "first_touch: 3 business days", "first_touch: 2 business days")
    timers = make_worker(app, clock, owner="restarted").lanes["timers"][0]
    assert timers.run_once() == 1  # the open clock is assessed again at once, not at its old reminder time
    assert parse_iso(store.clocks.current(lead)["deadline"]) == TWO_DAYS
    moved = store.clocks.story(lead)[-1]
    assert moved["kind"] == "deadline_moved" and json.loads(moved["details"])["to"] == "2026-11-25T09:00:00.000Z"
    run_until(timers, clock, TWO_DAYS + timedelta(minutes=2))
    breach = store.clocks.story(lead)[-1]
    assert breach["kind"] == "breach" and parse_iso(breach["at"]) - TWO_DAYS <= timedelta(seconds=60)


def test_a_restart_with_the_same_rules_wakes_nothing(app, store, clock):
    lead = handed_off(store, clock)
    assert make_worker(app, clock).lanes["timers"][0].run_once() == 1
    assert make_worker(app, clock, owner="restarted").lanes["timers"][0].run_once() == 0
    assert story(store, lead) == ["started"]
