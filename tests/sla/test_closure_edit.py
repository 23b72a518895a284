"""A company closure an admin adds on the admin pages takes effect: open deadlines move, and the lead's timeline, the
file's versions and the audit log say so. The tests' clock: Saturday 2026-11-21 18:00 JST (the 23rd is a holiday)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bridge.kernel.clock import parse_iso
from tests.admin import conftest as admin_fixtures
from tests.helpers import make_worker
from tests.sla.test_timers import handed_off, story

CLOSURES = "  closures:                       # 会社の休業日"
# The admin pages' fixtures (a logged-in client, its CSRF token, the audit log), shared from tests/admin.
admin_app, admin, csrf = admin_fixtures.admin_app, admin_fixtures.admin, admin_fixtures.csrf
mappings, audit = admin_fixtures.mappings, admin_fixtures.audit
FOUNDERS_DAY = "    - {name: 創立記念日, date: 2026-11-25}\n"


def test_a_closure_saved_on_the_admin_pages_moves_open_deadlines_and_is_logged(admin, admin_app, csrf, mappings,
                                                                                audit, clock):
    store = admin_app.extensions["bridge"].store
    lead = handed_off(store, clock)
    timers = make_worker(admin_app, clock).lanes["timers"][0]
    assert timers.run_once() == 1
    assert parse_iso(store.clocks.current(lead)["deadline"]) == datetime(2026, 11, 26, 9, tzinfo=UTC)  # Thu 18:00
    text = (mappings / "sla.yaml").read_text(encoding="utf-8")
    head, tail = text.split(CLOSURES, 1)
    line_end = tail.index("\n") + 1
    changed = head + CLOSURES + tail[:line_end] + FOUNDERS_DAY + tail[line_end:]
    response = admin.post("/admin/mappings/sla.yaml", data={"csrf_token": csrf, "text": changed, "action": "save"})
    assert response.status_code == 303
    assert audit()[-1] == ("admin", "save", "sla.yaml")
    assert "創立記念日" in store.admin.mapping_versions("sla.yaml")[0]["diff"]
    timers.mappings.refresh()  # what the worker's loop does between passes
    assert timers.run_once() == 1
    row = store.clocks.current(lead)
    assert parse_iso(row["deadline"]) == datetime(2026, 11, 27, 9, tzinfo=UTC)  # Friday 18:00 JST: the 25th closed
    moved = store.clocks.story(lead)[-1]
    assert moved["kind"] == "deadline_moved"
    assert json.loads(moved["details"])["to"] == "2026-11-27T09:00:00.000Z"
    assert story(store, lead) == ["started", "deadline_moved"]
