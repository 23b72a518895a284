"""Two worker processes on one database share each system's API budget: together they stay under HubSpot's
limit, measured by the sandbox, which answers 429 to anything over it. Each with a budget of its own does not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bridge.store import Store
from connectors.sandbox import Sandbox, serve
from connectors.sandbox.config import HubSpotConfig, SandboxConfig

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SANDBOX_LIMIT = 100  # requests per rolling 10 s: HubSpot's free tier; Bridge's budget is 90 % of it
SECONDS = 3.0  # well inside one 10 s window: the two processes together may make at most 90 reads


def run_two(env: dict[str, str], contact: str, *flags: str) -> list[dict]:
    processes = [subprocess.Popen([sys.executable, "-m", "tests.budget.driver", contact, str(SECONDS), *flags],  # noqa: S603
                                  env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    return [json.loads(p.communicate(timeout=60)[0]) for p in processes]


@pytest.mark.parametrize("shared", [True, False], ids=["shared budget", "a budget each (control)"])
def test_two_processes_together_stay_under_the_limit_only_when_they_share_the_budget(tmp_path, shared):
    config = SandboxConfig(hubspot=HubSpotConfig(rate_limit=SANDBOX_LIMIT))
    with serve(Sandbox(config)) as running:
        (contact,) = requests.post(f"{running.base_url}/_sandbox/hubspot/contacts", timeout=10,
                                   json={"records": [{"email": "budget@example.co.jp"}], "webhooks": False}
                                   ).json()["ids"]
        Store(tmp_path / "bridge.db").upgrade()
        env = {**os.environ, **running.sandbox.env(), "BRIDGE_DB": str(tmp_path / "bridge.db")}
        answers = run_two(env, contact, *([] if shared else ["--local"]))
        sent = running.sandbox.calls.count("hubspot.batch_read")
        over = running.sandbox.calls.count("hubspot.batch_read", 429)
    granted = sum(a["granted"] for a in answers)
    if shared:
        assert over == 0 and sent == granted
        assert 80 <= granted <= 90  # the budget was used, and never more than 90 % of the limit
        assert all(a["refused"] for a in answers)  # each process was held back, not only one
    else:
        assert over > 0  # each process spends 90 on its own: together they run into HubSpot's 429s
