"""The outbox dispatcher's outcomes with a scripted target: retries, Retry-After, dead letters; Slack notices."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import responses

from bridge.kernel.clock import iso
from bridge.kernel.errors import Permanent, RateLimited, Transient
from bridge.live import LiveMappings
from bridge.store import Store
from bridge.worker.alerts import AlertsStage
from bridge.worker.notify import notify
from bridge.worker.outbox import OutboxStage, Sender, write_back
from bridge.worker.run import retry_policy
from connectors.base import UpsertResult

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
ROUTE = "hubspot-contact-to-salesforce-lead"
LANES = ("hubspot", "salesforce", "kintone", "slack")


class Dispatcher:
    """The worker's outbox lanes and its alerts, run in turn in this thread, over the given connectors."""

    def __init__(self, store, settings, mappings, connectors, clock, owner):
        sender = Sender(store, mappings, connectors, clock, settings.worker.slack_webhook_url)
        policy = retry_policy(settings)
        linger = timedelta(seconds=settings.worker.linger_seconds)
        self.stages = [OutboxStage(sender, f"{owner}/{lane}", policy, lane, LANES, 60, linger)
                       for lane in (*LANES, None)]
        self.stages.append(AlertsStage(store, settings.worker.slack_webhook_url, clock, policy))

    def run_once(self) -> int:
        return sum(stage.run_once() for stage in self.stages)


class ScriptedTarget:
    """A connector whose upsert answers from a script: an exception, or one outcome per record."""

    name = "salesforce"

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent: list[list[dict]] = []
        self.calls = Counter()

    def api_problem(self):
        return None

    def upsert(self, object, key_field, records):
        self.sent.append(list(records))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return [UpsertResult(r[key_field], answer[0], id=f"00Q{n}", category=answer[1], code=answer[2],
                             message="scripted", fields=answer[3]) for n, r in enumerate(records)]


@pytest.fixture
def setup(make_settings):
    settings = make_settings()
    settings = replace(settings, worker=replace(settings.worker, linger_seconds=0))
    store = Store(settings.db_path)
    store.upgrade()
    return settings, store, LiveMappings(settings)


def handed_off_lead(store: Store, n: int = 1) -> int:
    with store.unit_of_work() as work:
        lead = work.leads.touch(T0, hubspot_id=str(100 + n))
        record = {"hs_object_id": str(100 + n), "email": f"l{n}@example.co.jp", "lastname": "山田",
                  "company": "サンプル"}
        work.leads.save_record(lead, 1, str(100 + n), record["email"], json.dumps(record), T0)
        work.leads.mark_handed_off(lead, "pricing", "handoff by pricing", T0)
        work.outbox.enqueue(lead, "upsert", ROUTE, T0)
    return lead


def dispatcher(setup, target, clock):
    settings, store, mappings = setup
    return Dispatcher(store, settings, mappings, {"salesforce": target}, clock, "test-owner")


def item(store: Store, lead: int) -> dict:
    return next(i for i in store.outbox.items(lead_id=lead) if i["kind"] == "upsert")


def test_transient_failure_retries_then_succeeds(setup):
    store = setup[1]
    lead = handed_off_lead(store)
    target = ScriptedTarget(Transient("salesforce", "HTTP 503"), ("created", None, None, ()))
    now = [T0]
    run = dispatcher(setup, target, lambda: now[0])
    assert run.run_once() == 1
    waiting = item(store, lead)
    assert waiting["status"] == "pending" and "503" in waiting["last_error"] and waiting["next_attempt_at"] > iso(T0)
    assert run.run_once() == 0  # not due yet
    now[0] = T0 + timedelta(hours=2)
    assert run.run_once() >= 1  # the upsert, then (in the Slack lane of the same pass) the handoff notice
    assert item(store, lead)["status"] == "done" and store.leads.records_of([lead])[lead]["salesforce"] == "00Q0"
    assert len(target.sent) == 2 and target.sent[0] == target.sent[1]


def test_a_batch_is_one_call_of_the_target_so_a_failed_call_fails_only_its_own_writes(setup):
    store = setup[1]
    leads = [handed_off_lead(store, n) for n in range(3)]
    target = ScriptedTarget(Transient("salesforce", "HTTP 503"), ("created", None, None, ()))
    target.batch_size = 2  # records per call, as a connector declares it
    run = dispatcher(setup, target, lambda: T0)
    run.run_once()
    run.run_once()
    assert [len(sent) for sent in target.sent] == [2, 1]
    assert [item(store, lead)["attempts"] for lead in leads] == [1, 1, 0]
    assert item(store, leads[2])["status"] == "done"


def test_retry_after_is_honoured(setup):
    store = setup[1]
    lead = handed_off_lead(store)
    run = dispatcher(setup, ScriptedTarget(RateLimited("salesforce", "429", retry_after=30)), lambda: T0)
    run.run_once()
    assert item(store, lead)["next_attempt_at"] == iso(T0 + timedelta(seconds=30))


def test_permanent_record_error_is_a_dead_letter_naming_fields_and_hubspot_still_hears(setup):
    store = setup[1]
    lead = handed_off_lead(store)
    target = ScriptedTarget(("failed", "permanent", "REQUIRED_FIELD_MISSING", ("Company",)))
    dispatcher(setup, target, lambda: T0).run_once()
    dead = item(store, lead)
    assert dead["status"] == "dead" and "REQUIRED_FIELD_MISSING" in dead["last_error"]
    assert json.loads(dead["fields"]) == ["Company"]
    assert {i["kind"] for i in store.outbox.items(lead_id=lead)} == {"upsert", "writeback", "notify"}


def test_retriable_errors_give_up_after_retrying_for_a_day(setup):
    store = setup[1]
    lead = handed_off_lead(store)
    now = [T0]
    run = dispatcher(setup, ScriptedTarget(*[Transient("salesforce", "HTTP 503")] * 3), lambda: now[0])
    run.run_once()
    now[0] += timedelta(hours=23)
    run.run_once()
    assert item(store, lead)["status"] == "pending" and item(store, lead)["attempts"] == 2
    now[0] += timedelta(hours=1)  # failing for 24 h (BRIDGE_RETRY_HOURS): given up
    run.run_once()
    dead = item(store, lead)
    assert dead["status"] == "dead" and dead["attempts"] == 3 and "after 24.0 h of retries" in dead["last_error"]


def test_a_whole_request_refused_is_dead_at_once(setup):
    store = setup[1]
    lead = handed_off_lead(store)
    refused = Permanent("salesforce", "INVALID_FIELD", fields=("Foo__c",))
    dispatcher(setup, ScriptedTarget(refused), lambda: T0).run_once()
    assert item(store, lead)["status"] == "dead" and json.loads(item(store, lead)["fields"]) == ["Foo__c"]


def test_unconfigured_target_waits_for_its_settings(setup):
    settings, store, mappings = setup
    lead = handed_off_lead(store)
    Dispatcher(store, settings, mappings, {}, lambda: T0, "o").run_once()
    waiting = item(store, lead)
    assert waiting["status"] == "pending" and "not configured" in waiting["last_error"]


def test_write_back_never_moves_a_lifecycle_stage_backwards():
    base = {"score": 115, "stage": "consideration", "temperature": "hot", "records": {"salesforce": "00Q1"}}
    assert write_back({**base, "properties": json.dumps({"lifecyclestage": "lead"})})["lifecyclestage"] == \
        "marketingqualifiedlead"
    customer = write_back({**base, "properties": json.dumps({"lifecyclestage": "customer"})})
    assert "lifecyclestage" not in customer and customer["salesforce_lead_id"] == "00Q1"


def test_broken_mapping_change_keeps_the_previous_version(setup, caplog):
    settings, _, mappings = setup
    rules = settings.mappings_dir / "handoff.yaml"
    good = rules.read_text(encoding="utf-8")
    rules.write_text(good.replace("score_at_least: 100", "score_at_least: lots"), encoding="utf-8")
    assert mappings.refresh() is False and "previous version stays in force" in caplog.text
    assert mappings.rules.criteria[0].score_at_least == 100
    rules.write_text(good.replace("score_at_least: 100", "score_at_least: 90"), encoding="utf-8")
    assert mappings.refresh() is True and mappings.rules.criteria[0].score_at_least == 90


LEAD = {"id": 12, "hubspot_id": "101", "email": "t@example.co.jp", "handoff_reason": "handoff by pricing",
        "handoff_criterion": "pricing", "records": {"salesforce": "00Q1"},
        "record": {"lastname": "山田", "firstname": "太郎", "company": "株式会社サンプル"}}


@responses.activate
def test_slack_notice_names_the_lead_and_its_record():
    hook = responses.post("https://hooks.slack.com/services/T0/B0/x", body="ok")
    assert notify("https://hooks.slack.com/services/T0/B0/x", [LEAD]) == "slack"
    text = json.loads(hook.calls[0].request.body)["text"]
    # The address's brackets are escaped too: Slack shows them as < and > instead of parsing a link.
    assert "山田 太郎 &lt;t@example.co.jp&gt; (株式会社サンプル): handoff by pricing | Salesforce 00Q1" in text


@responses.activate
@pytest.mark.parametrize("status, error", [(429, RateLimited), (503, Transient), (404, Permanent)])
def test_slack_refusals_are_classified(status, error):
    responses.post("https://hooks.slack.com/services/T0/B0/x", status=status, headers={"Retry-After": "3"})
    with pytest.raises(error):
        notify("https://hooks.slack.com/services/T0/B0/x", [LEAD])


def test_without_slack_the_notice_is_a_log_line_of_ids(caplog):
    caplog.set_level("DEBUG")
    assert notify(None, [LEAD]) == "log"
    assert "handoff: lead 12 (HubSpot contact 101) by pricing | Salesforce 00Q1" in caplog.text
    assert "山田" not in caplog.text and "t@example.co.jp" not in caplog.text


# -- failed-write alerts: once per target and failure episode, once on recovery -----------------------------
HOOK = "https://hooks.slack.com/services/T0/B0/x"
DEAD = ("failed", "permanent", "REQUIRED_FIELD_MISSING", ("Company",))
CREATED = ("created", None, None, ())


class AcceptingHubSpot:
    """The write-back target, always accepting: these tests watch the upserts' alerts only."""

    name = "hubspot"

    def api_problem(self):
        return None

    def upsert(self, object, key_field, records):
        return [UpsertResult(r[key_field], "updated") for r in records]


class FakeSlack:
    """A Slack webhook answering alerts (⚠️, ✅) from a script of statuses (then 200), handoff notices 200."""

    def __init__(self, *statuses: int):
        self.statuses = list(statuses)
        self.delivered: list[str] = []
        self.refused = 0
        responses.add_callback(responses.POST, HOOK, callback=self)

    def __call__(self, request):
        text = json.loads(request.body)["text"]
        if not text.startswith(("⚠️", "✅")):
            return 200, {}, "ok"
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.delivered.append(text)
        else:
            self.refused += 1
        return status, {}, "ok" if status == 200 else "server_error"


@pytest.fixture
def slack_setup(make_settings):
    settings = make_settings(SLACK_WEBHOOK_URL=HOOK)
    settings = replace(settings, worker=replace(settings.worker, linger_seconds=0))
    store = Store(settings.db_path)
    store.upgrade()
    return settings, store, LiveMappings(settings)


def worker(setup, target, clock, owner: str = "w1") -> Dispatcher:
    settings, store, mappings = setup
    return Dispatcher(store, settings, mappings, {"salesforce": target, "hubspot": AcceptingHubSpot()}, clock, owner)


def drain(run: Dispatcher) -> None:
    while run.run_once():
        pass


@responses.activate
def test_one_alert_per_failure_episode_then_one_recovery_notice(slack_setup):
    store = slack_setup[1]
    slack = FakeSlack()
    run = worker(slack_setup, ScriptedTarget(DEAD, DEAD, DEAD, CREATED, CREATED), lambda: T0)
    handed_off_lead(store, 1)
    drain(run)
    assert len(slack.delivered) == 1
    alert = slack.delivered[0]
    assert alert.startswith("⚠️ Bridge: hubspot-contact-to-salesforce-lead (upsert) への書き込みが失敗し、1 件")
    assert "REQUIRED_FIELD_MISSING" in alert and "項目 / Fields: Company" in alert
    assert "bridge outbox replay --all" in alert and "/admin/outbox" in alert
    for first in (2, 27):  # 50 more dead letters of the same cause, in two batches: no new alert
        for n in range(first, first + 25):
            handed_off_lead(store, n)
        drain(run)
    assert len(slack.delivered) == 1
    episode = store.alerts.list()[0]
    assert episode["count"] == 51 and episode["first_at"] == iso(T0) and episode["state"] == "open"
    handed_off_lead(store, 52)  # the next write goes through: recovered
    drain(run)
    assert len(slack.delivered) == 2 and slack.delivered[1].startswith("✅ Bridge: hubspot-contact-to-salesforce-lead")
    assert "51 dead letter(s) still wait for a replay" in slack.delivered[1]
    handed_off_lead(store, 53)
    drain(run)
    assert len(slack.delivered) == 2 and store.alerts.list()[0]["state"] == "recovered"


@responses.activate
def test_slack_down_during_an_alert_retries_later_and_delivers_it_once(slack_setup):
    store = slack_setup[1]
    slack = FakeSlack(500)
    now = [T0]
    run = worker(slack_setup, ScriptedTarget(DEAD), lambda: now[0])
    lead = handed_off_lead(store)
    drain(run)
    assert slack.refused == 1 and slack.delivered == []
    # The write path went on: the dead letter is kept and HubSpot and sales still heard about the handoff.
    assert {i["kind"]: i["status"] for i in store.outbox.items(lead_id=lead)} == \
        {"upsert": "dead", "writeback": "done", "notify": "done"}
    pending = store.alerts.list()[0]
    assert pending["notified_at"] is None and pending["tries"] == 1 and pending["next_try_at"] > iso(T0)
    drain(run)  # still backing off: no new try
    assert slack.refused == 1
    now[0] += timedelta(hours=2)
    drain(run)
    now[0] += timedelta(hours=2)
    drain(run)
    assert len(slack.delivered) == 1 and slack.refused == 1 and store.alerts.list()[0]["notified_at"] is not None


@responses.activate
def test_the_alert_state_is_shared_by_workers_and_survives_a_restart(slack_setup):
    store = slack_setup[1]
    slack = FakeSlack(500)
    now = [T0]
    handed_off_lead(store)
    drain(worker(slack_setup, ScriptedTarget(DEAD), lambda: now[0], owner="w1"))
    now[0] += timedelta(hours=2)
    restarted, other = (worker(slack_setup, ScriptedTarget(), lambda: now[0], owner=o) for o in ("w1b", "w2"))
    drain(restarted)
    drain(other)
    drain(restarted)
    assert len(slack.delivered) == 1 and slack.refused == 1


@responses.activate
def test_replaying_the_dead_letters_after_a_fix_is_a_recovery(slack_setup):
    store = slack_setup[1]
    slack = FakeSlack()
    run = worker(slack_setup, ScriptedTarget(DEAD, CREATED), lambda: T0)
    handed_off_lead(store, 1), handed_off_lead(store, 2)
    drain(run)
    assert store.outbox.replay(None, T0) == 2
    drain(run)
    assert len(slack.delivered) == 2 and "2 件" in slack.delivered[0]
    assert "No dead letters are left" in slack.delivered[1]


@responses.activate
def test_an_alert_quoting_a_vendor_message_is_escaped(slack_setup):
    store = slack_setup[1]
    slack = FakeSlack()
    refused = Permanent("salesforce", "FIELD_CUSTOM_VALIDATION_EXCEPTION: <!channel> <https://evil.example|fix>")
    handed_off_lead(store)
    drain(worker(slack_setup, ScriptedTarget(refused), lambda: T0))
    assert "&lt;!channel&gt; &lt;https://evil.example|fix&gt;" in slack.delivered[0]
    assert "<" not in slack.delivered[0]


def test_without_slack_the_alert_is_one_error_line_and_the_recovery_one_info_line(setup, caplog):
    caplog.set_level("INFO")
    store = setup[1]
    run = worker(setup, ScriptedTarget(DEAD, DEAD, CREATED), lambda: T0)
    for n in (1, 2):
        handed_off_lead(store, n)
        drain(run)
    handed_off_lead(store, 3)
    drain(run)
    alerts = [r for r in caplog.records if r.getMessage().startswith(("⚠️", "✅"))]
    assert [r.levelname for r in alerts] == ["ERROR", "INFO"]
    assert "writes to hubspot-contact-to-salesforce-lead (upsert) failed: 1 dead letter(s)" in alerts[0].getMessage()
    assert "2 dead letter(s) since 2026-11-21T09:00:00.000Z UTC" in alerts[1].getMessage()


def test_a_failure_while_the_recovery_is_being_sent_makes_the_alert_due_again(setup):
    store = setup[1]
    with store.unit_of_work() as work:
        work.alerts.note_dead_letter("route", "upsert", "boom", ["A"], T0)
    store.alerts.sent(store.alerts.claim(T0, timedelta(seconds=60))["id"], False, T0)
    with store.unit_of_work() as work:
        work.alerts.note_clean_write("route", T0)
    claimed = store.alerts.claim(T0, timedelta(seconds=60))
    assert claimed["state"] == "recovered"
    with store.unit_of_work() as work:  # it fails again while the recovery notice is on its way
        work.alerts.note_dead_letter("route", "upsert", "boom again", ["B"], T0)
    store.alerts.sent(claimed["id"], True, T0)
    again = store.alerts.claim(T0, timedelta(seconds=60))
    assert again["id"] == claimed["id"] and again["notified_at"] is None and again["recovered_notified_at"] is None
    assert again["count"] == 2 and json.loads(again["fields"]) == ["A", "B"]


class FirstRecordRefused(ScriptedTarget):
    """Refuses the first record of each call (its Company is missing) and creates the others."""

    def upsert(self, object, key_field, records):
        self.sent.append(list(records))
        return [UpsertResult(r[key_field], *(DEAD[:1]), category=DEAD[1], code=DEAD[2], fields=DEAD[3]) if n == 0
                else UpsertResult(r[key_field], "created", id=f"00Q{n}") for n, r in enumerate(records)]


@responses.activate
def test_a_batch_that_still_buries_a_write_is_no_recovery(slack_setup):
    store = slack_setup[1]
    slack = FakeSlack()
    run = worker(slack_setup, FirstRecordRefused(), lambda: T0)
    for n in (1, 2, 3):
        handed_off_lead(store, n)
    drain(run)
    assert len(slack.delivered) == 1 and store.alerts.list()[0]["state"] == "open"
    run = worker(slack_setup, ScriptedTarget(CREATED), lambda: T0)
    handed_off_lead(store, 4)
    drain(run)
    assert len(slack.delivered) == 2 and "1 dead letter(s) still wait for a replay" in slack.delivered[1]
