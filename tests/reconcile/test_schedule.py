"""The worker's scheduled reconciliation: due at the cron time in Tokyo, once, never at a new install's first start,
and its summary posted to Slack (escaped)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import responses

from bridge.worker.reconcile import ReconcileStage
from tests.reconcile.test_job import reconciler, world  # noqa: F401 (the fixture)

SLACK = "https://hooks.slack.test/services/T000/B000/XXXX"


def stage(world, now, **settings):  # noqa: F811
    settings.setdefault("schedule", "0 2 * * *")
    job = reconciler(world, now=lambda: now[0], **settings)
    return ReconcileStage(world[1], job, lambda: now[0], SLACK)


def test_the_first_run_waits_for_the_schedule_then_runs_once_a_day(world):  # noqa: F811
    store = world[1]
    now = [datetime(2026, 12, 2, 5, 0, tzinfo=UTC)]  # 14:00 in Tokyo: the worker starts
    nightly = stage(world, now)
    with responses.RequestsMock() as slack:
        slack.post(SLACK, json={})
        assert nightly.run_once() == 0  # first sight: counted from now, not from last night's 02:00
        now[0] = datetime(2026, 12, 2, 16, 59, tzinfo=UTC)  # 01:59 in Tokyo
        assert nightly.run_once() == 0
        now[0] = datetime(2026, 12, 2, 17, 0, 5, tzinfo=UTC)  # 02:00:05
        assert nightly.run_once() == 1
        (run,) = store.reconciliations.runs()
        assert (run["trigger"], run["doit"], run["status"]) == ("schedule", 1, "applied")
        assert nightly.run_once() == 0  # done for tonight
        now[0] += timedelta(hours=23, minutes=59)
        assert nightly.run_once() == 0
        now[0] += timedelta(minutes=2)
        assert nightly.run_once() == 1
        assert len(slack.calls) == 2
        assert "突き合わせ #1" in json.loads(slack.calls[0].request.body)["text"]


def test_the_slack_summary_escapes_what_a_lead_can_type(world):  # noqa: F811
    store, hubspot, salesforce = world[1], world[2], world[3]
    hubspot.records["1"]["lastname"] = "<!channel>"
    del salesforce.records["5001"]  # deleted: a person decides, so the summary names the lead
    now = [datetime(2026, 12, 2, 5, 0, tzinfo=UTC)]
    nightly = stage(world, now)
    with responses.RequestsMock() as slack:
        slack.post(SLACK, json={})
        nightly.run_once()
        now[0] = datetime(2026, 12, 2, 17, 1, tzinfo=UTC)
        assert nightly.run_once() == 1
        text = json.loads(slack.calls[0].request.body)["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert store.reconciliations.runs()[0]["needs_person"] == 1


def test_no_schedule_means_the_worker_never_reconciles(world):  # noqa: F811
    now = [datetime(2026, 12, 2, 5, 0, tzinfo=UTC)]
    nightly = stage(world, now, schedule=None)
    for _ in range(3):
        assert nightly.run_once() == 0
        now[0] += timedelta(days=1)
    assert world[1].reconciliations.runs() == []
