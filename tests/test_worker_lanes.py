"""A worker process can run some lanes (`bridge worker --lanes`): `bridge serve` splits intake from writes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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


def test_each_process_beats_with_its_lanes_and_readyz_names_the_lanes_nobody_runs(app, store, clock):
    client = app.test_client()
    intake = make_worker(app, clock, lanes="intake", owner="host:1:intake")
    writes = make_worker(app, clock, lanes="writes", owner="host:2:writes")
    intake.run_once()
    writes.run_once()
    assert client.get("/readyz").status_code == 200
    assert {lane for _, _, lanes in store.health.heartbeats() for lane in lanes} == {*intake.lanes, *writes.lanes}
    clock.advance(seconds=100)
    intake.run_once()  # the writes process is stuck: the intake one still beats
    clock.advance(seconds=30)
    intake.run_once()
    response = client.get("/readyz")
    assert response.status_code == 503
    check = response.json["checks"]["worker"]
    assert check.startswith("worker lanes ") and "salesforce" in check and "130 s ago" in check
    assert "core" not in check


def test_a_worker_that_hangs_before_its_first_pass_is_named_once_the_limit_passes(app, store, clock):
    client = app.test_client()
    intake = make_worker(app, clock, lanes="intake", owner="host:1:intake")
    intake.run_once()
    make_worker(app, clock, lanes="writes", owner="host:2:writes").heartbeat.register()  # started, then hung
    assert client.get("/readyz").status_code == 200  # just started: not yet late
    clock.advance(seconds=121)
    intake.run_once()
    check = client.get("/readyz").json["checks"]["worker"]
    assert check.startswith("worker lanes ") and "salesforce" in check
    everything = make_worker(app, clock, owner="host:3")  # a restart with every lane in one process covers them all
    everything.run_once()
    assert client.get("/readyz").status_code == 200


def test_the_command_refuses_a_lane_it_does_not_know(make_settings, monkeypatch):
    settings = make_settings()
    for key, value in settings.env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(worker_command, ["--once", "--lanes", "salesforse"])
    assert result.exit_code == 2 and "--lanes: no lane 'salesforse'" in result.output


def test_ctrl_c_and_sigterm_arriving_while_the_stop_lock_is_held_still_stop_the_worker():
    """Ctrl-C and bridge serve's SIGTERM together, landing while the main thread holds the stop Event's lock (as
    it does inside `stop.wait()`): the handlers must not wait for that lock, and `stop` must still be set."""
    script = textwrap.dedent("""
        import signal, threading
        from bridge.cli import stop_on_signals

        stop = threading.Event()
        stop_on_signals(stop, (signal.SIGTERM, signal.SIGINT))
        with stop._cond:  # the main thread inside stop.wait(), where a signal finds it
            signal.raise_signal(signal.SIGINT)  # each handler runs here, in this thread, before the next line
            signal.raise_signal(signal.SIGTERM)
        print("stopped" if stop.wait(timeout=5) else "not stopped")
    """)
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("the signal handlers waited for the lock the interrupted thread holds: the worker hangs")
    assert (done.returncode, done.stdout.strip()) == (0, "stopped"), done.stderr
