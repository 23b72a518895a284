"""What SLA clocks write: one Slack message per batch that mentions owners and managers (escaped lead values),
log lines without Slack, and the recycle's fields written to the sales record (remembered as our own echo)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import responses

from connectors.base import UpsertResult
from tests.helpers import make_worker
from tests.sla.test_timers import DEADLINE, SF_LEAD, handed_off, sales_event

HOOK = "https://hooks.slack.com/services/T0/B0/sla"
OWNERS = """owners:
  '005OWNER': {name: 山田 太郎, slack: U0OWNER1, manager: '005BOSS'}
  '005BOSS': {name: 佐藤 花子, slack: U0BOSS01}
"""


class FakeSalesforce:
    """Takes every upsert and every create (a Task gets an id 00T…); remembers each call."""

    def __init__(self, real):
        self.real, self.calls, self.created = real, [], []

    def __getattr__(self, name):
        return getattr(self.real, name)

    def api_problem(self):
        return None

    def upsert(self, object, key_field, records):
        self.calls.append((object, key_field, [dict(r) for r in records]))
        return [UpsertResult(str(r[key_field]), "updated", id=SF_LEAD) for r in records]

    def create(self, object, records):
        self.created += [(object, dict(r)) for r in records]
        return [UpsertResult(str(i), "created", id=f"00T5g00000{len(self.created) - len(records) + i:05d}")
                for i, _ in enumerate(records)]


def drain(lane) -> int:
    """Run an outbox lane until it has nothing ready: how many writes it took."""
    taken = 0
    while (found := lane.run_once()):
        taken += found
    return taken


@pytest.fixture
def app(make_settings, clock):
    from bridge.app import create_app

    settings = make_settings(SLACK_WEBHOOK_URL=HOOK)
    sla = Path(settings.mappings_dir) / "sla.yaml"
    sla.write_text(sla.read_text(encoding="utf-8").replace("owners: {}\n", OWNERS), encoding="utf-8")
    return create_app(settings, clock=clock)


def owned(store, clock, lead: int, owner: str = "005OWNER") -> None:
    """The Lead as the feedback stage last read it: its owner is in OwnerId."""
    row = store.sales.find_record("salesforce", SF_LEAD)
    with store.unit_of_work() as work:
        work.sales.applied(row["id"], None, {"Id": SF_LEAD, "OwnerId": owner}, None, clock())


def breach(app, store, clock, name: str = "山田") -> tuple[int, object]:
    worker = make_worker(app, clock)
    lead = handed_off(store, clock)
    owned(store, clock, lead)
    clock.advance(seconds=(DEADLINE - clock()).total_seconds())
    worker.lanes["timers"][0].run_once()  # reminder and breach at once: a worker that was down till the deadline
    return lead, worker


@responses.activate
def test_a_breach_mentions_the_owner_and_manager_in_one_slack_message(app, store, clock):
    hook = responses.post(HOOK, body="ok")
    lead, worker = breach(app, store, clock)
    assert worker.lanes["slack"][0].run_once() == 1
    (call,) = hook.calls
    text = json.loads(call.request.body)["text"]
    assert "初回連絡の期限を過ぎました / First-touch deadline missed" in text
    assert "担当 / owner <@U0OWNER1>" in text and "上長 / manager <@U0BOSS01>" in text
    assert "期限 / due 2026-11-26 18:00" in text  # in the calendar's zone
    assert store.clocks.to_send([lead]) == []  # sent once
    assert worker.lanes["slack"][0].run_once() == 0


@responses.activate
def test_a_lead_value_cannot_mention_anyone_in_an_sla_notice(app, store, clock):
    hook = responses.post(HOOK, body="ok")
    worker = make_worker(app, clock)
    lead = handed_off(store, clock)
    with store.unit_of_work() as work:
        work.leads.note_property(lead, "lastname", "<!channel>")
    clock.advance(seconds=(DEADLINE - clock()).total_seconds())
    worker.lanes["timers"][0].run_once()
    worker.lanes["slack"][0].run_once()
    text = json.loads(hook.calls[0].request.body)["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "担当者未設定 / no owner" in text  # no OwnerId read yet: said plainly, not guessed


@responses.activate
@pytest.mark.parametrize("email", ["!channel|x@example.co.jp", "https://evil.example|x@example.co.jp"])
def test_a_lead_email_cannot_mention_a_channel_nor_disguise_a_link_in_an_sla_notice(app, store, clock, email):
    hook = responses.post(HOOK, body="ok")
    worker = make_worker(app, clock)
    lead = handed_off(store, clock)
    with store.unit_of_work() as work:  # an address the email validator accepts, and Slack would read as markup
        work.leads.save_record(lead, 2, "501", email, json.dumps({"lastname": "山田"}), clock())
    clock.advance(seconds=(DEADLINE - clock()).total_seconds())
    worker.lanes["timers"][0].run_once()
    worker.lanes["slack"][0].run_once()
    text = json.loads(hook.calls[0].request.body)["text"]
    assert f"<{email}>" not in text and f"&lt;{email}&gt;" in text


def test_without_slack_the_notice_is_a_log_line_with_ids_only(make_settings, clock, caplog):
    from bridge.app import create_app

    app = create_app(make_settings(), clock=clock)
    store = app.extensions["bridge"].store
    lead, worker = breach(app, store, clock)
    with caplog.at_level("INFO"):
        worker.lanes["slack"][0].run_once()
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("SLA breach")]
    assert f"lead {lead}" in line and "山田" not in line and "@example" not in line
    assert store.clocks.to_send([lead]) == []


def test_a_recycle_writes_the_status_to_salesforce_and_remembers_it_as_our_own(app, store, clock):
    services = app.extensions["bridge"]
    salesforce = FakeSalesforce(services.connectors["salesforce"])
    worker = make_worker(app, clock, connectors={**services.connectors, "salesforce": salesforce})
    lead = handed_off(store, clock)
    worker.lanes["timers"][0].run_once()
    clock.advance(days=3)
    for _ in range(3):
        sales_event(store, clock, lead, "attempted")
        worker.lanes["timers"][0].run_once()
        clock.advance(days=1)
    assert worker.lanes["salesforce"][0].run_once() == 1
    assert salesforce.calls == [("Lead", "HubSpot_Contact_Id__c", [{"HubSpot_Contact_Id__c": "501",
                                                                    "Status": "Recycled"}])]
    assert store.echoes.is_own("salesforce", SF_LEAD, "Status", "Recycled", clock())
    clock.advance(minutes=1)
    assert worker.lanes["salesforce"][0].run_once() == 0  # once


def test_a_breach_without_reassign_writes_nothing_to_the_sales_system(app, store, clock):
    services = app.extensions["bridge"]
    salesforce = FakeSalesforce(services.connectors["salesforce"])
    worker = make_worker(app, clock, connectors={**services.connectors, "salesforce": salesforce})
    handed_off(store, clock)
    clock.advance(seconds=(DEADLINE - clock()).total_seconds() + 1)
    worker.lanes["timers"][0].run_once()
    clock.advance(seconds=timedelta(minutes=1).total_seconds())
    worker.lanes["salesforce"][0].run_once()
    assert salesforce.calls == []


class FakeKintone(FakeSalesforce):
    """An app with process management: its status is moved by actions (recorded), never written as a field."""

    def __init__(self, real):
        super().__init__(real)
        self.moves = []

    def status_field(self, object):
        return "ステータス"

    def upsert(self, object, key_field, records):
        self.calls.append((object, key_field, [dict(r) for r in records]))
        return [UpsertResult(str(r[key_field]), "updated", id="2") for r in records]

    def move_statuses(self, object, key_field, moves):
        self.moves.append((object, key_field, list(moves)))
        return [UpsertResult(key, "updated", id="2") for key, _ in moves]


def test_a_recycle_moves_the_kintone_status_by_its_process_action(make_settings, clock):
    from bridge.app import create_app

    settings = make_settings(KINTONE_BASE_URL="https://example.cybozu.com", KINTONE_API_TOKEN="kintone-api-token",
                             KINTONE_APP_ID="7")
    route = settings.mappings_dir / "hubspot-contact-to-kintone.yaml"
    route.write_text(route.read_text(encoding="utf-8").replace("enabled: false", "enabled: true"), encoding="utf-8")
    app = create_app(settings, clock=clock)
    services = app.extensions["bridge"]
    store, kintone = services.store, FakeKintone(services.connectors["kintone"])
    worker = make_worker(app, clock, connectors={**services.connectors, "kintone": kintone})
    lead = handed_off(store, clock)
    with store.unit_of_work() as work:
        work.leads.link_record(lead, "kintone", "7", "2", clock())
    worker.lanes["timers"][0].run_once()
    clock.advance(days=3)
    for _ in range(3):
        sales_event(store, clock, lead, "attempted", system="kintone")
        worker.lanes["timers"][0].run_once()
        clock.advance(days=1)
    assert worker.lanes["kintone"][0].run_once() >= 1
    # The status is not sent as a field: the record is moved by the app's action (shipped sla.yaml: マーケに戻す).
    assert kintone.moves == [("7", "hubspot_contact_id", [("501", "マーケに戻す")])]
    assert kintone.calls == []  # nothing else to write: an upsert of the key alone would only bump the revision
    assert store.echoes.is_own("kintone", "2", "ステータス", "マーケに戻す", clock())
