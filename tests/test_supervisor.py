"""`bridge serve`'s supervision: the restart back-off, exit descriptions, and a restarted child process."""

import logging
import sys

from bridge.supervisor import Backoff, Supervised, exit_text


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_backoff_doubles_to_a_minute_and_starts_over_after_a_stable_run():
    backoff = Backoff(first=1, longest=60, stable=60)
    assert [backoff.after_run(2) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.after_run(59) == 60
    assert backoff.after_run(60) == 1  # it ran a minute: the next crash is a new story
    assert backoff.after_run(0) == 2


def test_exit_text_names_the_signal_or_the_status():
    assert exit_text(-9) == "was killed by SIGKILL"
    assert exit_text(2) == "exited with status 2"
    assert exit_text(-200) == "was killed by signal 200"


def test_a_child_that_dies_is_logged_and_restarted_after_the_backoff(caplog):
    clock = Ticks()
    child = Supervised("worker", [sys.executable, "-c", "raise SystemExit(3)"], Backoff(first=1), clock=clock)
    with caplog.at_level(logging.INFO, logger="bridge.supervisor"):
        child.tick()
        first = child.process
        first.wait(timeout=30)
        clock.now += 5
        child.tick()  # notices the exit; the restart is due in 1 s
        assert child.process is None and child.start_at == clock.now + 1
        clock.now += 0.5
        child.tick()
        assert child.process is None
        clock.now += 0.5
        child.tick()
        assert child.process is not None and child.process.pid != first.pid
        child.stop()
        child.wait(timeout=30)
    messages = [r.getMessage() for r in caplog.records]
    assert f"worker (pid {first.pid}) exited with status 3 after 5 s; restarting it in 1 s" in messages
    assert any(m.endswith("(restart 1)") for m in messages)
    clock.now += 100
    child.tick()
    assert child.process is None  # stopped for good


def test_stop_ends_a_running_child_gracefully():
    child = Supervised("worker", [sys.executable, "-c", "import time; time.sleep(60)"], clock=Ticks())
    child.tick()
    child.stop()
    child.wait(timeout=30)
    assert child.process is None
