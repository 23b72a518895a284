"""A real `bridge serve` on a loopback port for end-to-end tests, and its process tree read from /proc (Linux).

Every process it starts, and every child seen under it, is killed at the end, whatever the test did
(the `serve` fixture in tests/e2e/conftest.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest
import requests

from connectors.hubspot import sign_v3
from tests.conftest import HUBSPOT_SECRET
from tests.helpers import hubspot_event

START_SECONDS = 45  # CI machines can be slow to import everything and start gunicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat(pid: int) -> list[str] | None:
    """The fields after the command name in /proc/<pid>/stat: [state, ppid, ...]; None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """Running or sleeping; a zombie (ended, waiting to be reaped) counts as gone."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields and int(fields[1]) == pid and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_until(condition, seconds: float, what: str):
    """Poll `condition` (a real server's state) until it is truthy; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    pytest.fail(f"{what} within {seconds:g} s")


class Served:
    """`bridge serve` running in `folder` on `port`."""

    def __init__(self, folder: Path, port: int, env: dict[str, str], args: tuple[str, ...] = ()):
        self.folder, self.port, self.base = folder, port, f"http://127.0.0.1:{port}"
        self.log_path = folder / f"serve-{time.monotonic_ns()}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bridge", "serve", "--bind", f"127.0.0.1:{port}",
                                             *args], env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
        self.seen: set[int] = {self.process.pid}

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_listening(self) -> None:
        def listening() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"bridge serve exited with {self.process.returncode}:\n{self.log}")
            try:
                return requests.get(f"{self.base}/healthz", timeout=2).ok
            except requests.RequestException:  # not listening yet, or still loading the app
                return False

        wait_until(listening, START_SECONDS, f"bridge serve did not listen:\n{self.log}")

    def children(self) -> list[int]:
        pids = children(self.process.pid)
        self.seen.update(pids)
        return pids

    def worker_pid(self, lanes: str = "intake") -> int | None:
        """The pid of the worker process running `lanes` (bridge serve runs an intake and a writes process)."""
        workers = [pid for pid in self.children() if " bridge worker " in command_line(pid) + " "
                   and f" --lanes {lanes} " in command_line(pid) + " "]
        return workers[0] if len(workers) == 1 else None

    def post_hubspot(self, event_id: int, object_id: int = 77, timeout: float = 5) -> requests.Response:
        body = json.dumps([hubspot_event(event_id, object_id=object_id)]).encode()
        ts = str(int(time.time() * 1000))
        url = f"{self.base}/webhooks/hubspot"
        return requests.post(url, data=body, timeout=timeout, headers={
            "X-HubSpot-Signature-v3": sign_v3(HUBSPOT_SECRET, "POST", url, body, ts),
            "X-HubSpot-Request-Timestamp": ts, "Content-Type": "application/json"})

    def end(self) -> None:
        """SIGTERM, then SIGKILL for anything of this server still running."""
        self.children()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in self.seen - {self.process.pid}:
            if alive(pid):
                with suppress(ProcessLookupError):
                    os.kill(pid, 9)
