"""A worker process can run some lanes (`bridge worker --lanes`): `bridge serve` splits intake from writes."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bridge.cli import worker as worker_command
from bridge.worker.run import select_lanes
from tests.helpers import make_worker

KNOWN = dict.fromkeys(("core", "timers", "salesforce", "kintone", "hubspot", "slack"))


def test_groups_and_names_choose_lanes():
    assert select_lanes("intake", KNOWN) == ["core", "timers"]
    assert select_lanes("writes", KNOWN) == ["salesforce", "kintone", "hubspot", "slack"]
    assert select_lanes(" kintone,core ", KNOWN) == ["kintone", "core"]


@pytest.mark.parametrize("wanted", ["sales", "", " , "])
def test_an_unknown_or_empty_choice_names_the_lanes_there_are(wanted):
    with pytest.raises(ValueError, match="intake, writes, core, timers, salesforce"):
        select_lanes(wanted, KNOWN)


def test_the_two_processes_together_run_every_lane_once(app, clock):
    everything = make_worker(app, clock)
    intake, writes = (make_worker(app, clock, lanes=group) for group in ("intake", "writes"))
    assert sorted([*intake.lanes, *writes.lanes]) == sorted(everything.lanes)
    assert set(intake.lanes).isdisjoint(writes.lanes)


def test_only_the_process_with_the_inbox_beats_the_heartbeat(app, store, clock):
    make_worker(app, clock, lanes="writes").run_once()
    assert store.health.last_heartbeat() is None  # /readyz would otherwise say the inbox is processed
    make_worker(app, clock, lanes="intake").run_once()
    assert store.health.last_heartbeat() is not None


def test_the_command_refuses_a_lane_it_does_not_know(make_settings, monkeypatch):
    settings = make_settings()
    for key, value in settings.env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(worker_command, ["--once", "--lanes", "salesforse"])
    assert result.exit_code == 2 and "--lanes: no lane 'salesforse'" in result.output


def test_a_second_signal_inside_the_first_handler_does_not_hang_the_worker():
    """Ctrl-C and bridge serve's SIGTERM together: the nested handler must not wait for the first one's lock."""
    import threading

    from bridge.cli import stop_once

    stop = threading.Event()
    handle = stop_once(stop)
    real_set = stop.set

    def set_while_a_second_signal_arrives():
        with stop._cond:  # the first handler, inside Event.set, holding the lock
            handle()  # the second signal's handler runs here, in the same thread
        real_set()

    stop.set = set_while_a_second_signal_arrives
    done = threading.Thread(target=handle, daemon=True)
    done.start()
    done.join(timeout=5)
    assert not done.is_alive() and stop.is_set()
