"""The outbox dispatcher's outcomes with a scripted target: retries, Retry-After, dead letters; Slack notices."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import responses

from bridge.clock import iso
from bridge.errors import Permanent, RateLimited, Transient
from bridge.handoff.notify import notify
from bridge.handoff.outbox import Dispatcher, write_back
from bridge.live_mappings import LiveMappings
from bridge.store import Store
from connectors.base import UpsertResult

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
ROUTE = "hubspot-contact-to-salesforce-lead"


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
    settings = replace(settings, worker=replace(settings.worker, linger_seconds=0, max_attempts=3))
    store = Store(settings.db_path)
    store.upgrade()
    return settings, store, LiveMappings(settings)


def handed_off_lead(store: Store, n: int = 1) -> int:
    with store.transaction() as db:
        lead = store.touch_lead(db, T0, hubspot_id=str(100 + n))
        record = {"hs_object_id": str(100 + n), "email": f"l{n}@example.co.jp", "lastname": "山田",
                  "company": "サンプル"}
        store.save_record(db, lead, 1, str(100 + n), record["email"], json.dumps(record), T0)
        store.mark_handed_off(db, lead, "pricing", "handoff by pricing", T0)
        store.enqueue(db, lead, "upsert", ROUTE, T0)
    return lead


def dispatcher(setup, target, clock):
    settings, store, mappings = setup
    return Dispatcher(store, settings.worker, mappings, {"salesforce": target}, clock, "test-owner")


def item(store: Store, lead: int) -> dict:
    return next(i for i in store.outbox_items(lead_id=lead) if i["kind"] == "upsert")


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
    assert run.run_once() == 1
    assert item(store, lead)["status"] == "done" and store.lead(lead)["salesforce_id"] == "00Q0"
    assert len(target.sent) == 2 and target.sent[0] == target.sent[1]


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
    assert {i["kind"] for i in store.outbox_items(lead_id=lead, status="pending")} == {"writeback", "notify"}


def test_retriable_errors_give_up_after_max_attempts(setup):
    store = setup[1]
    lead = handed_off_lead(store)
    now = [T0]
    run = dispatcher(setup, ScriptedTarget(*[Transient("salesforce", "HTTP 503")] * 3), lambda: now[0])
    for _ in range(3):
        run.run_once()
        now[0] += timedelta(days=1)
    assert item(store, lead)["status"] == "dead" and item(store, lead)["attempts"] == 3


def test_a_whole_request_refused_is_dead_at_once(setup):
    store = setup[1]
    lead = handed_off_lead(store)
    refused = Permanent("salesforce", "INVALID_FIELD", fields=("Foo__c",))
    dispatcher(setup, ScriptedTarget(refused), lambda: T0).run_once()
    assert item(store, lead)["status"] == "dead" and json.loads(item(store, lead)["fields"]) == ["Foo__c"]


def test_unconfigured_target_waits_for_its_settings(setup):
    settings, store, mappings = setup
    lead = handed_off_lead(store)
    Dispatcher(store, settings.worker, mappings, {}, lambda: T0, "o").run_once()
    waiting = item(store, lead)
    assert waiting["status"] == "pending" and "not configured" in waiting["last_error"]


def test_write_back_never_moves_a_lifecycle_stage_backwards():
    base = {"score": 115, "stage": "consideration", "temperature": "hot", "salesforce_id": "00Q1", "kintone_id": None}
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


LEAD = {"email": "t@example.co.jp", "handoff_reason": "handoff by pricing", "salesforce_id": "00Q1",
        "record": {"lastname": "山田", "firstname": "太郎", "company": "株式会社サンプル"}}


@responses.activate
def test_slack_notice_names_the_lead_and_its_record():
    hook = responses.post("https://hooks.slack.com/services/T0/B0/x", body="ok")
    assert notify("https://hooks.slack.com/services/T0/B0/x", [LEAD]) == "slack"
    text = json.loads(hook.calls[0].request.body)["text"]
    assert "山田 太郎 <t@example.co.jp> (株式会社サンプル): handoff by pricing | Salesforce 00Q1" in text


@responses.activate
@pytest.mark.parametrize("status, error", [(429, RateLimited), (503, Transient), (404, Permanent)])
def test_slack_refusals_are_classified(status, error):
    responses.post("https://hooks.slack.com/services/T0/B0/x", status=status, headers={"Retry-After": "3"})
    with pytest.raises(error):
        notify("https://hooks.slack.com/services/T0/B0/x", [LEAD])


def test_without_slack_the_notice_is_a_log_line(caplog):
    caplog.set_level("INFO")
    assert notify(None, [LEAD]) == "log" and "handoff: 山田 太郎" in caplog.text
