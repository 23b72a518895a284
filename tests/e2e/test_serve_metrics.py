"""A real `bridge serve` (two gunicorn workers) configured by `.env`: /metrics adds up the counters of every
worker process, so the forged-401 count and unknown activity types show; nothing is left in the temp folder."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from bridge.config import SHIPPED_MAPPINGS
from tests.conftest import BASE_ENV

pytestmark = pytest.mark.slow
FORGED = 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def samples(base: str) -> dict[tuple, float]:
    text = requests.get(f"{base}/metrics", timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def served_by_dotenv(tmp_path):
    """`bridge serve` with no --bind: BRIDGE_BIND and BRIDGE_WEB_WORKERS come from the .env file only."""
    port = free_port()
    (tmp_path / ".env").write_text(f"BRIDGE_BIND=127.0.0.1:{port}\nBRIDGE_WEB_WORKERS=2\n")
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "PROMETHEUS_"))}
    env.update({**BASE_ENV, "BRIDGE_DB": str(tmp_path / "bridge.db"), "BRIDGE_MAPPINGS": str(SHIPPED_MAPPINGS),
                "TMPDIR": str(private_tmp)})
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "bridge", "serve"], env=env, cwd=tmp_path, stdout=out,
                                   stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30  # CI machines can be slow to start gunicorn
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=1).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"bridge serve did not listen on BRIDGE_BIND from .env:\n{log.read_text()}")
    yield base, process, private_tmp
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)


def test_metrics_add_up_every_worker_and_show_forged_deliveries(served_by_dotenv):
    base, process, private_tmp = served_by_dotenv
    body = json.dumps([{"eventId": 1, "objectId": 7, "subscriptionType": "contact.creation"}]).encode()
    for _ in range(FORGED):  # a new connection each, so both workers take some
        response = requests.post(f"{base}/webhooks/hubspot", data=body, timeout=5, headers={
            "X-HubSpot-Signature-v3": "Zm9yZ2Vk", "X-HubSpot-Request-Timestamp": str(int(time.time() * 1000)),
            "Content-Type": "application/json"})
        assert response.status_code == 401
    activity = {"id": "web-1", "email": "emily.carter@northwind.example", "type": "webnar_signup",
                "occurred_at": "2026-11-21T10:00:00+09:00"}
    answer = requests.post(f"{base}/api/activities", json=[activity], timeout=5,
                           headers={"Authorization": f"Bearer {BASE_ENV['BRIDGE_ACTIVITIES_TOKEN']}"})
    assert answer.status_code == 202 and answer.json()["unknown_types"] == ["webnar_signup"]

    found = samples(base)
    assert found[("bridge_webhook_requests_total", (("outcome", "401"), ("source", "hubspot")))] == FORGED
    assert found[("bridge_activities_unknown_type_total", (("type", "webnar_signup"),))] == 1
    assert [p.name for p in private_tmp.iterdir()][0].startswith("bridge-metrics-")

    process.terminate()
    assert process.wait(timeout=30) == 0
    assert list(private_tmp.iterdir()) == []  # the metrics folder `bridge serve` made is gone
