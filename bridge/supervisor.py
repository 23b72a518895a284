"""`bridge serve`'s supervision: the worker process restarted with back-off, and children that die with it."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gunicorn.arbiter import Arbiter

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent: int, signum: int) -> None:
    """Have `signum` sent to this process when `parent` ends, even by kill -9, so no child outlives it.

    Linux: prctl(PR_SET_PDEATHSIG), https://man7.org/linux/man-pages/man2/pr_set_pdeathsig.2const.html.
    The signal follows the parent *thread* that forked this process, so `bridge serve` starts its
    children from its main thread. Elsewhere a thread looks for a new parent once a second.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1)
            os.kill(os.getpid(), signum)

        threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
    if os.getppid() != parent:  # it ended before the request above took effect
        os.kill(os.getpid(), signum)


@dataclass
class Backoff:
    """Waits before each restart: `first`, doubling up to `longest`; a run of `stable` seconds starts over."""

    first: float = 1.0
    longest: float = 60.0
    stable: float = 60.0
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        self._next = self.first

    def after_run(self, seconds: float) -> float:
        """The wait before the next start, after a run that lasted `seconds`."""
        if seconds >= self.stable:
            self._next = self.first
        wait = self._next
        self._next = min(self._next * 2, self.longest)
        return wait


def exit_text(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


class Supervised:
    """A child process kept running: each exit is logged and followed by a restart after a back-off."""

    def __init__(self, name: str, argv: Sequence[str], backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.name, self.argv = name, list(argv)
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.start_at: float | None = clock()  # when to start it next; None once stopping
        self.starts = 0

    def tick(self) -> None:
        """Notice an exit, and start the process when due. Call it often (the arbiter: about once a second)."""
        self.reap()
        if self.process is None and self.start_at is not None and self.clock() >= self.start_at:
            try:
                self.process = subprocess.Popen(self.argv)  # noqa: S603 (our own interpreter and arguments)
            except OSError as error:  # e.g. out of processes or memory: try again later, never crash the master
                wait = self.backoff.after_run(0)
                self.start_at = self.clock() + wait
                log.error("%s could not be started (%s); trying again in %.0f s", self.name, error, wait)
                return
            self.started_at = self.clock()
            self.starts += 1
            again = f" (restart {self.starts - 1})" if self.starts > 1 else ""
            log.info("%s started, pid %d%s", self.name, self.process.pid, again)

    def reap(self) -> None:
        """Collect the process's exit status if it has ended (a targeted waitpid)."""
        if self.process is None or self.process.poll() is None:
            return
        pid, code, ran = self.process.pid, self.process.returncode, self.clock() - self.started_at
        self.process = None
        if self.start_at is None:
            log.info("%s (pid %d) %s", self.name, pid, exit_text(code))
            return
        wait = self.backoff.after_run(ran)
        self.start_at = self.clock() + wait
        log.error("%s (pid %d) %s after %.0f s; restarting it in %.0f s", self.name, pid, exit_text(code), ran, wait)

    def stop(self) -> None:
        """Ask it to stop (SIGTERM: it finishes what it is doing) and never start it again."""
        self.start_at = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait(self, timeout: float) -> None:
        """Wait for a stopping process; SIGKILL it after `timeout` seconds."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %d) did not stop within %.0f s; killing it", self.name, self.process.pid, timeout)
            self.process.kill()
            self.process.wait()
        self.reap()


class SupervisingArbiter(Arbiter):
    """gunicorn's master, which also keeps `companions` (the `bridge worker` processes) running and stops them
    with everything else on SIGTERM or SIGINT."""

    def __init__(self, app, companions: Sequence[Supervised] = ()):
        super().__init__(app)
        self.companions = list(companions)

    def reap_workers(self) -> None:
        for companion in self.companions:
            companion.reap()  # first: gunicorn's waitpid(-1) would take its exit status and drop it
        super().reap_workers()

    def manage_workers(self) -> None:
        super().manage_workers()
        for companion in self.companions:
            companion.tick()

    def stop(self, graceful: bool = True) -> None:
        for companion in self.companions:
            companion.stop()  # each finishes its current item while gunicorn lets requests finish
        super().stop(graceful)
        for companion in self.companions:
            companion.wait(timeout=self.cfg.graceful_timeout)
