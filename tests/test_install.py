"""Installs like a product: a wheel built from this checkout, installed into a fresh virtual environment,
runs `bridge demo`, `bridge init` and `bridge serve` from empty folders, with nothing left behind."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# What a wheel build does not need (and what must not leak into one): caches, databases, the local venv.
NOT_SOURCE = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                    ".ruff_cache", "*.db", "*.db-*", ".env", "tests", "bench")


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """The wheel, installed without the checkout and without this environment's packages (pip's own cache and
    the registry provide the dependencies)."""
    work = tmp_path_factory.mktemp("install")
    shutil.copytree(ROOT, work / "source", symlinks=True, ignore=NOT_SOURCE)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "wheels", work / "source")
    [wheel] = (work / "wheels").glob("bridge-*.whl")
    run(sys.executable, "-m", "venv", work / "venv")
    run(work / "venv" / "bin" / "python", "-m", "pip", "install", "-q", wheel, timeout=600)
    return work / "venv"


@pytest.fixture
def user_env(tmp_path) -> dict[str, str]:
    """A user's shell: no Bridge settings, no checkout on the path, a temp folder of its own to inspect."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BRIDGE_", "HUBSPOT_", "SALESFORCE_", "KINTONE_", "SLACK_", "PROMETHEUS_", "PYTHON"))}
    return {**env, "TMPDIR": str(private_tmp)}


@pytest.fixture
def empty(tmp_path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_the_wheel_holds_the_default_mappings_and_not_the_checkout(venv, user_env, empty):
    code = "import bridge.config as c, bridge; print(c.SHIPPED_MAPPINGS); print(bridge.__file__)"
    shipped, module = run(venv / "bin" / "python", "-c", code, cwd=empty, env=user_env).stdout.split()
    assert str(venv) in module, "bridge was imported from the checkout, not from the wheel"
    assert sorted(p.name for p in Path(shipped).glob("*.yaml")) == [
        "feedback.yaml", "handoff.yaml", "hubspot-contact-to-kintone.yaml", "hubspot-contact-to-salesforce-lead.yaml",
        "sla.yaml"]


def test_demo_runs_from_an_empty_folder_and_ctrl_c_leaves_nothing_behind(venv, user_env, empty, tmp_path):
    output = tmp_path / "demo.out"
    with output.open("w") as out:
        demo = subprocess.Popen([venv / "bin" / "bridge", "demo", "--keep"], cwd=empty, env=user_env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while "Still running" not in output.read_text() and demo.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        text = output.read_text()
        assert "Still running" in text, text
        assert "Leads: 14 — handed off 6, not yet 5, excluded 3" in text and "UNEXPECTED" not in text
        assert "Salesforce sandbox: 6 Lead(s) created" in text
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
        assert demo.wait(timeout=60) == 0, output.read_text()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    left = sorted(str(p) for p in Path(user_env["TMPDIR"]).rglob("*"))  # no bridge-demo-* nor bridge-metrics-*
    assert left == [], f"left behind: {left[:20]}\n{output.read_text()[-3000:]}"
    assert list(empty.iterdir()) == []


def test_init_writes_mappings_that_check(venv, user_env, empty):
    result = run(venv / "bin" / "bridge", "init", cwd=empty, env=user_env)
    assert "Wrote 5 file(s) to mappings" in result.stdout
    check = run(venv / "bin" / "bridge", "mappings", "check", cwd=empty, env=user_env)
    assert "handoff.yaml" in check.stdout


def test_serve_starts_in_an_empty_folder_on_the_shipped_defaults(venv, user_env, empty):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve = subprocess.Popen([venv / "bin" / "bridge", "serve", "--bind", f"127.0.0.1:{port}"], cwd=empty,
                             env=user_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, ready = time.monotonic() + 60, None
        while (ready is None or ready.status_code != 200) and serve.poll() is None and time.monotonic() < deadline:
            with suppress(requests.ConnectionError, requests.Timeout):  # ready once gunicorn and the worker run
                ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
            time.sleep(0.2)
        assert ready is not None, serve.stderr.read() if serve.poll() is not None else "not listening"
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["mappings"] == "ok"
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    assert (empty / "bridge.db").is_file() and not (empty / "mappings").exists()
