"""A to-do for the lead's owner where they work (sla.yaml `task:`): one Salesforce Task per asked-for action (owner,
subject, today's date, figures), once across worker restarts; a kintone comment mentioning the owner; none unless
asked; a record refused beside one created is sent again alone; a Bridge Task is never a sales touch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.feedback.events import sales_events
from bridge.feedback.load import load_feedback
from bridge.timeline import timeline
from connectors.base import UpsertResult
from tests.conftest import SHIPPED_MAPPINGS
from tests.helpers import make_worker
from tests.sla.test_sla_writes import FakeKintone, FakeSalesforce, drain, owned
from tests.sla.test_timers import DEADLINE, SF_LEAD, handed_off, run_until

OWNER, QUEUE = "005000000000001AAA", "00G000000000001AAA"
ROUTE = "hubspot-contact-to-salesforce-lead"
BREACH_SUBJECT = "初回連絡の期限を過ぎました / First-touch deadline missed"
REMINDER_SUBJECT = "初回連絡の期限が近づいています / First-touch deadline approaching"
REMINDER = "      - {before: 1 business days, to: [owner]}\n"
ESCALATION_TASK = "      task: true\n"  # the standard policy's (the hot one's line carries a comment)


def edit_sla(settings, old: str, new: str) -> None:
    sla = Path(settings.mappings_dir) / "sla.yaml"
    text = sla.read_text(encoding="utf-8")
    assert text.count(old) == 1
    sla.write_text(text.replace(old, new), encoding="utf-8")


def app_with_sla(make_settings, clock, old: str, new: str):
    """The app over the shipped mappings with one edit of sla.yaml."""
    from bridge.app import create_app

    settings = make_settings()
    edit_sla(settings, old, new)
    return create_app(settings, clock=clock)


def with_fake(app, clock, fake_class=FakeSalesforce, system="salesforce", owner="test-worker"):
    services = app.extensions["bridge"]
    fake = fake_class(services.connectors[system])
    return fake, make_worker(app, clock, connectors={**services.connectors, system: fake}, owner=owner)


def tasks(fake) -> list[dict]:
    return [record for object, record in fake.created if object == "Task"]


def breach_now(worker, clock) -> None:
    """The worker was down until just past the deadline: the reminder and the breach are due at once."""
    clock.advance(seconds=(DEADLINE - clock()).total_seconds() + 1)
    while worker.lanes["timers"][0].run_once():
        pass


def test_a_breach_leaves_one_task_for_the_owner_once_even_after_a_restart(app, store, clock):
    fake, worker = with_fake(app, clock)
    lead = handed_off(store, clock)
    owned(store, clock, lead, OWNER)
    breach_now(worker, clock)
    assert drain(worker.lanes["salesforce"][0]) == 1
    (task,) = tasks(fake)  # the shipped escalation asks for it; the shipped reminder does not
    assert {k: task[k] for k in ("WhoId", "OwnerId", "Subject", "ActivityDate", "Status", "Priority")} == {
        "WhoId": SF_LEAD, "OwnerId": OWNER, "Subject": BREACH_SUBJECT, "ActivityDate": "2026-11-26",
        "Status": "Not Started", "Priority": "High"}
    assert "期限 / due: 2026-11-26 18:00 (Asia/Tokyo)" in task["Description"]
    # Tuesday 9:00 (Monday is a holiday) to Thursday 18:00: three days of eight business hours (lunch excluded).
    assert "経過 / since the handoff: 24:00 (営業時間 / business hours)" in task["Description"]
    assert "not a logged call or email" in task["Description"]
    (item,) = store.outbox.items(kind="sla_task")
    assert (item["status"], item["target"]) == ("done", ROUTE)
    task_id = "00T5g0000000000"
    assert store.echoes.is_own("salesforce", task_id, "Subject", BREACH_SUBJECT, clock())  # its echo is ours

    fake_after, restarted = with_fake(app, clock, owner="second-worker")  # the worker starts again
    clock.advance(hours=2)
    while restarted.lanes["timers"][0].run_once():
        pass
    drain(restarted.lanes["salesforce"][0])
    assert tasks(fake_after) == [] and len(store.outbox.items(kind="sla_task")) == 1


def test_the_write_is_on_the_leads_timeline(app, store, clock):
    fake, worker = with_fake(app, clock)
    lead = handed_off(store, clock)
    breach_now(worker, clock)
    drain(worker.lanes["salesforce"][0])
    texts = [entry["text"] for entry in timeline(store, lead)["entries"]]
    assert f"sla_task → {ROUTE}: done (created salesforce Task 00T5g0000000000)" in texts
    assert any(text.startswith("SLA breached (standard)") and text.endswith(f"a to-do for the owner via {ROUTE}")
               for text in texts)


def test_a_reminder_that_asks_for_a_task_gets_its_own_and_the_breach_another(make_settings, clock):
    app = app_with_sla(make_settings, clock, REMINDER,
                       "      - {before: 1 business days, to: [owner], task: [salesforce]}\n")
    store = app.extensions["bridge"].store
    fake, worker = with_fake(app, clock)
    lead = handed_off(store, clock)
    owned(store, clock, lead, OWNER)
    run_until(worker.lanes["timers"][0], clock, DEADLINE - timedelta(hours=2), step=timedelta(hours=1))
    drain(worker.lanes["salesforce"][0])
    (reminder,) = tasks(fake)
    assert (reminder["Subject"], reminder["Priority"], reminder["OwnerId"]) == (REMINDER_SUBJECT, "Normal", OWNER)
    assert "残り / left: " in reminder["Description"]
    run_until(worker.lanes["timers"][0], clock, DEADLINE + timedelta(minutes=1))
    drain(worker.lanes["salesforce"][0])
    assert [t["Subject"] for t in tasks(fake)] == [REMINDER_SUBJECT, BREACH_SUBJECT]  # one per action


def test_without_the_option_no_task_is_queued_or_written(make_settings, clock):
    app = app_with_sla(make_settings, clock, ESCALATION_TASK, "      task: false\n")
    store = app.extensions["bridge"].store
    fake, worker = with_fake(app, clock)
    handed_off(store, clock)
    breach_now(worker, clock)
    drain(worker.lanes["salesforce"][0])
    assert fake.created == [] and store.outbox.items(kind="sla_task") == []


def test_a_lead_owned_by_a_queue_gets_a_task_without_an_owner(app, store, clock):
    fake, worker = with_fake(app, clock)
    lead = handed_off(store, clock)
    owned(store, clock, lead, QUEUE)  # a Task cannot belong to a queue: Salesforce gives it to the creator
    breach_now(worker, clock)
    drain(worker.lanes["salesforce"][0])
    (task,) = tasks(fake)
    assert "OwnerId" not in task and task["WhoId"] == SF_LEAD


class FlakySalesforce(FakeSalesforce):
    """Refuses the second record of its first create (the row was locked), then takes everything."""

    def create(self, object, records):
        results = super().create(object, records)
        if len(self.created) == len(records) and len(records) > 1:
            self.created.pop(1)
            results[1] = UpsertResult("1", "failed", category="retriable", code="UNABLE_TO_LOCK_ROW",
                                      message="unable to obtain exclusive access to this record")
        return results


def test_a_task_refused_beside_one_created_is_sent_again_alone(make_settings, clock):
    app = app_with_sla(make_settings, clock, REMINDER, "      - {before: 1 business days, to: [owner], task: true}\n")
    store = app.extensions["bridge"].store
    fake, worker = with_fake(app, clock, FlakySalesforce)
    handed_off(store, clock)
    # The Salesforce lane is stopped until after the breach: the reminder's item waits, the breach joins it.
    run_until(worker.lanes["timers"][0], clock, DEADLINE + timedelta(minutes=1), step=timedelta(hours=1))
    assert len(store.outbox.items(kind="sla_task")) == 1
    drain(worker.lanes["salesforce"][0])
    assert [t["Subject"] for t in tasks(fake)] == [REMINDER_SUBJECT, BREACH_SUBJECT]
    assert [i["status"] for i in store.outbox.items(kind="sla_task", newest_first=False)] == ["done", "done"]
    drain(worker.lanes["salesforce"][0])
    assert len(tasks(fake)) == 2


class RefusingSalesforce(FakeSalesforce):
    def create(self, object, records):
        return [UpsertResult(str(i), "failed", category="permanent", code="INVALID_CROSS_REFERENCE_KEY",
                             message="invalid cross reference id", fields=("WhoId",)) for i, _ in enumerate(records)]


def test_a_task_salesforce_refuses_is_a_dead_letter_not_a_loop(app, store, clock):
    fake, worker = with_fake(app, clock, RefusingSalesforce)
    handed_off(store, clock)
    breach_now(worker, clock)
    drain(worker.lanes["salesforce"][0])
    (item,) = store.outbox.items(kind="sla_task")
    assert item["status"] == "dead" and "INVALID_CROSS_REFERENCE_KEY" in item["last_error"]


class CommentingKintone(FakeKintone):
    def __init__(self, real):
        super().__init__(real)
        self.comments = []

    def add_comment(self, app, record_id, text, mentions=()):
        self.comments.append({"app": app, "record_id": record_id, "text": text, "mentions": list(mentions)})
        return str(len(self.comments))


@pytest.fixture
def kintone_app(make_settings, clock):
    from bridge.app import create_app

    settings = make_settings(KINTONE_BASE_URL="https://example.cybozu.com", KINTONE_API_TOKEN="kintone-api-token",
                             KINTONE_APP_ID="7")
    route = settings.mappings_dir / "hubspot-contact-to-kintone.yaml"
    route.write_text(route.read_text(encoding="utf-8").replace("enabled: false", "enabled: true"), encoding="utf-8")
    return create_app(settings, clock=clock)


def kintone_lead(store, clock, owner) -> int:
    lead = handed_off(store, clock)
    with store.unit_of_work() as work:
        work.leads.link_record(lead, "kintone", "7", "2", clock())
        row = work.sales.find_record("kintone", "2")
        work.sales.applied(row["id"], None, {"$id": "2", "担当者": owner}, None, clock())
    return lead


def test_a_kintone_breach_is_a_comment_that_mentions_the_owner(kintone_app, clock):
    store = kintone_app.extensions["bridge"].store
    fake, worker = with_fake(kintone_app, clock, CommentingKintone, "kintone")
    kintone_lead(store, clock, [{"code": "sato", "name": "佐藤 一郎"}])  # a user selection field
    breach_now(worker, clock)
    drain(worker.lanes["kintone"][0])
    (comment,) = fake.comments
    assert (comment["app"], comment["record_id"], comment["mentions"]) == ("7", "2", ["sato"])
    assert comment["text"].startswith(BREACH_SUBJECT + "\n") and "期限 / due: 2026-11-26 18:00" in comment["text"]
    drain(worker.lanes["kintone"][0])
    assert len(fake.comments) == 1


def test_an_owner_kept_as_text_in_kintone_is_named_not_mentioned(kintone_app, clock):
    store = kintone_app.extensions["bridge"].store
    fake, worker = with_fake(kintone_app, clock, CommentingKintone, "kintone")
    kintone_lead(store, clock, "佐藤")
    breach_now(worker, clock)
    drain(worker.lanes["kintone"][0])
    (comment,) = fake.comments
    assert comment["mentions"] == [] and "担当 / owner: 佐藤" in comment["text"]


def test_a_bridge_task_is_never_told_as_a_sales_touch():
    rules = load_feedback(SHIPPED_MAPPINGS)
    task = {"Id": "00T5g0000000000AAA", "WhoId": SF_LEAD, "Subject": BREACH_SUBJECT, "Status": "Not Started",
            "Priority": "High", "OwnerId": OWNER, "TaskSubtype": "Task", "CreatedDate": "2026-11-26T09:00:01Z"}
    at = datetime(2026, 11, 26, 9, 0, 1, tzinfo=UTC)
    assert sales_events(rules, "salesforce", "Task", task["Id"], None, task, at) == []
    done = {**task, "Status": "Completed"}  # the owner ticks it off: still not a call or an email
    assert sales_events(rules, "salesforce", "Task", task["Id"], task, done, at) == []
    call = {**done, "TaskSubtype": "Call"}  # a control: a rep's logged call is one
    assert [e.kind for e in sales_events(rules, "salesforce", "Task", task["Id"], None, call, at)] == ["attempted"]
