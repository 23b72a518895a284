"""`bridge serve` for real: gunicorn on a loopback port plus the spawned worker, driven over HTTP."""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
import requests

from connectors.hubspot import sign_v3
from tests.conftest import BASE_ENV, HUBSPOT_SECRET, SF_TOKEN, SHIPPED_MAPPINGS
from tests.helpers import hubspot_event, outbound_message

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    port = free_port()
    env = {**os.environ, **BASE_ENV, "BRIDGE_DB": str(tmp_path / "bridge.db"), "BRIDGE_MAPPINGS": str(SHIPPED_MAPPINGS),
           "BRIDGE_POLL_SECONDS": "0.05"}
    log = open(tmp_path / "serve.log", "w+")  # noqa: SIM115 (the server writes to it while tests read it)
    process = subprocess.Popen([sys.executable, "-m", "bridge", "serve", "--bind", f"127.0.0.1:{port}"],
                               env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):  # up to 30 s: CI machines can be slow to start gunicorn
        try:
            if requests.get(f"{base}/healthz", timeout=1).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"bridge serve did not start:\n{(tmp_path / 'serve.log').read_text()}")
    yield base, tmp_path / "bridge.db", log
    process.terminate()
    process.wait(timeout=30)


def test_signed_webhook_is_acknowledged_and_processed_by_the_worker(served):
    base, db_path, log = served
    body = json.dumps([hubspot_event(1, object_id=77)]).encode()
    ts = str(int(time.time() * 1000))
    url = f"{base}/webhooks/hubspot"
    response = requests.post(url, data=body, timeout=5, headers={
        "X-HubSpot-Signature-v3": sign_v3(HUBSPOT_SECRET, "POST", url, body, ts),
        "X-HubSpot-Request-Timestamp": ts, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    deadline = time.time() + 10
    while time.time() < deadline:
        with sqlite3.connect(db_path) as db:
            status = db.execute("SELECT status FROM inbox").fetchone()[0]
        if status == "done":
            break
        time.sleep(0.1)
    assert status == "done"
    # The heartbeat is stamped by the worker's main loop after its lanes' passes: it may trail the event a little.
    deadline, ready = time.time() + 10, {}
    while time.time() < deadline:
        ready = requests.get(f"{base}/readyz", timeout=5).json()
        if ready["status"] == "ready":
            break
        time.sleep(0.1)
    assert ready["status"] == "ready", ready


def test_access_log_never_shows_url_tokens(served):
    base, _, log = served
    response = requests.post(f"{base}/webhooks/salesforce?token={SF_TOKEN}", data=outbound_message(), timeout=5,
                             headers={"Content-Type": "text/xml"})
    assert response.status_code == 200
    time.sleep(0.3)
    log.seek(0)
    text = log.read()
    assert "/webhooks/salesforce" in text
    assert SF_TOKEN not in text


def test_access_log_cannot_be_forged_through_the_path(served):
    """gunicorn logs the path URL-decoded: a %0A in it must not start a line of its own, nor %1b steer a terminal."""
    base, _, log = served
    requests.get(f"{base}/x%0A127.0.0.1%20%22GET%20/admin%20HTTP/1.1%22%20200%1b[2J", timeout=5)
    time.sleep(0.3)
    log.seek(0)
    lines = log.read().splitlines()
    assert not any(line.startswith('127.0.0.1 "GET /admin') for line in lines)
    assert "\x1b" not in "\n".join(lines)
    assert any("/x\\n127.0.0.1" in line for line in lines)
