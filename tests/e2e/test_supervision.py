"""`bridge serve` supervises: a killed worker is restarted and processes new events; a killed master leaves no
process behind, and a new `bridge serve` binds the same port at once."""

import os
import signal
import sqlite3

import pytest
import requests

from tests.e2e.serving import alive, wait_until

pytestmark = pytest.mark.slow


def inbox_status(db_path, event_id: int) -> str | None:
    with sqlite3.connect(db_path) as db:
        row = db.execute("SELECT status FROM inbox WHERE dedupe_key LIKE ?", [f"%:{event_id}:%"]).fetchone()
    return row[0] if row else None


def test_a_killed_worker_is_restarted_and_processes_new_events(serve, tmp_path):
    server = serve()
    first = wait_until(server.worker_pid, 30, "bridge serve started no worker process")
    os.kill(first, signal.SIGKILL)
    second = wait_until(lambda: (pid := server.worker_pid()) not in (None, first) and pid, 15,
                        "the killed worker was not restarted")
    assert not alive(first)
    assert f"worker (intake) (pid {first}) was killed by SIGKILL" in server.log
    # The log line follows the start of the process: wait for it rather than race it.
    wait_until(lambda: f"worker (intake) started, pid {second} (restart 1)" in server.log, 10,
               "the restart was not logged")

    assert server.post_hubspot(7).status_code == 200
    wait_until(lambda: inbox_status(tmp_path / "bridge.db", 7) == "done", 30,
               f"the restarted worker did not process the new event:\n{server.log}")
    wait_until(lambda: requests.get(f"{server.base}/readyz", timeout=5).status_code == 200, 15,
               "/readyz did not say ready with the restarted worker beating")


def test_a_killed_master_leaves_nothing_behind_and_the_port_is_free_at_once(serve):
    server = serve()
    wait_until(lambda: server.worker_pid("writes"), 30, "bridge serve started no writes worker")
    wait_until(server.worker_pid, 30, "bridge serve started no intake worker")
    family = server.children()
    assert len(family) == 4  # two web workers, the intake worker and the writes worker
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)
    wait_until(lambda: not any(alive(pid) for pid in family), 10,
               f"processes outlived their master: {[pid for pid in family if alive(pid)]}")

    again = serve(server.port)  # the same port, straight away
    assert "Connection in use" not in again.log
    assert again.post_hubspot(8).status_code == 200


def test_readyz_names_the_writes_lanes_while_their_process_is_stuck(serve):
    server = serve(BRIDGE_WORKER_STALE_SECONDS="8")
    writes = wait_until(lambda: server.worker_pid("writes"), 30, "bridge serve started no writes worker")

    def readyz() -> requests.Response:
        return requests.get(f"{server.base}/readyz", timeout=5)

    wait_until(lambda: readyz().status_code == 200, 20, "/readyz did not say ready")

    def writes_beat() -> bool:
        with sqlite3.connect(server.folder / "bridge.db") as db:
            return any("salesforce" in (lanes or "") for (lanes,) in db.execute("SELECT lanes FROM worker_heartbeats"))

    wait_until(writes_beat, 20, "the writes process never stamped its heartbeat")
    os.kill(writes, signal.SIGSTOP)  # stuck: alive, so not restarted, and the intake process still beats
    try:
        stuck = wait_until(lambda: (r := readyz()).status_code == 503 and r.json(), 30,
                           "/readyz stayed ready while the writes process was stuck")
        check = stuck["checks"]["worker"]
        assert check.startswith("worker lanes ") and "hubspot" in check and "salesforce" in check
    finally:
        os.kill(writes, signal.SIGCONT)
    wait_until(lambda: readyz().status_code == 200, 30, "/readyz did not recover once the writes process ran again")
