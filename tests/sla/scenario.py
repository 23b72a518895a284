"""SLA clocks made through store operations and the worker's timers stage, for the tests of what shows them (the
admin page, /api/sla, /metrics, the lead's timeline). The clock is the tests' clock; nothing sleeps.

The scenario, from the tests' start (Saturday 2026-11-21 18:00 JST; Monday the 23rd is a national holiday):
four leads are handed off at once; owner 005A (named in sla.yaml) has two, 005B (not named) one, and one lead has
no owner. The hot lead (005B) is breached on Tuesday at 12:00; lead C (005A) is reached on Tuesday at 11:00, two
business hours in; on Thursday at 10:00 the two warm leads left are due at 18:00, seven business hours later.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bridge.kernel.clock import iso
from tests.helpers import make_worker

#: Tuesday 2026-11-24 11:00 JST: lead C is reached (its clock started at Tuesday's opening, 9:00).
TOUCHED_AT = datetime(2026, 11, 24, 2, tzinfo=UTC)
#: Thursday 2026-11-26 10:00 JST: when the tests look.
LOOK_AT = datetime(2026, 11, 26, 1, tzinfo=UTC)
OWNERS = """owners:
  005A00000000001: {name: 山田 太郎, slack: U012AB3CD, manager: 005A00000000009}
  005A00000000009: {name: 佐藤 花子}
"""
NAMED, UNNAMED = "005A00000000001", "005B00000000002"


def name_owners(mappings) -> None:
    """sla.yaml with owners named (the shipped file names none)."""
    path = mappings / "sla.yaml"
    text = path.read_text(encoding="utf-8")
    assert "owners: {}\n" in text
    path.write_text(text.replace("owners: {}\n", OWNERS), encoding="utf-8")


def hand_off(store, clock, hubspot_id: str, temperature: str = "warm", owner: str | None = None,
             name: tuple[str, str] = ("山田", "花子")) -> int:
    """A lead handed off now, its Salesforce Lead read with `owner` in OwnerId, its SLA clock started."""
    record_id = f"00Q5g0000000{hubspot_id}"
    with store.unit_of_work() as work:
        lead = work.leads.touch(clock(), hubspot_id=hubspot_id)
        work.leads.save_record(lead, 1, hubspot_id, f"lead{hubspot_id}@example.co.jp",
                               json.dumps({"lastname": name[0], "firstname": name[1], "company": "株式会社テスト"}),
                               clock())
        work.leads.save_decision(lead, 1, {"score": 120, "stage": "decision", "temperature": temperature,
                                           "excluded": None, "qualifies": True, "criterion": "pricing"},
                                 "handoff by pricing", clock())
        assert work.leads.mark_handed_off(lead, "pricing", "handoff by pricing", clock())
        work.leads.link_record(lead, "salesforce", "Lead", record_id, clock())
        if owner is not None:
            row = work.sales.find_record("salesforce", record_id)
            work.sales.applied(row["id"], None, {"OwnerId": owner, "Status": "Open - Not Contacted"}, None, clock())
        work.clocks.start(lead, 1, clock())
    return lead


def sales_event(store, clock, lead: int, kind: str) -> None:
    """What the feedback stage does with a call logged in Salesforce: store the event, wake the lead's clock."""
    with store.unit_of_work() as work:
        work.sales.add_event(lead, 1, kind, "salesforce", "Task", f"00T{lead}", clock(), None, None, {}, clock())
        work.clocks.wake(lead, clock())


def run_until(timers, clock, moment: datetime, step: timedelta = timedelta(hours=1)) -> None:
    """Move the clock to `moment` a step at a time, running the timers stage at each step as its lane does."""
    while clock() < moment:
        clock.advance(seconds=min(step, moment - clock()).total_seconds())
        while timers.run_once():
            pass


def four_leads(app, clock) -> dict[str, int]:
    """The scenario above, run to LOOK_AT: {"A": lead id, …}. A and D are due soon, B is breached, C was met."""
    store = app.extensions["bridge"].store
    timers = make_worker(app, clock).lanes["timers"][0]
    leads = {"A": hand_off(store, clock, "601", owner=NAMED, name=("田中", "一郎")),
             "B": hand_off(store, clock, "602", temperature="hot", owner=UNNAMED, name=("鈴木", "次郎")),
             "C": hand_off(store, clock, "603", owner=NAMED, name=("高橋", "三郎")),
             "D": hand_off(store, clock, "604", name=("伊藤", "四郎"))}
    timers.run_once()
    run_until(timers, clock, TOUCHED_AT)
    sales_event(store, clock, leads["C"], "connected")
    timers.run_once()
    run_until(timers, clock, LOOK_AT)
    assert iso(clock()) == iso(LOOK_AT)
    return leads
