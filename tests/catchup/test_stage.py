"""The catch-up poll through the worker: a kintone status change whose webhook was lost, or a Salesforce Lead whose
outbound message gave up, is read by the next poll, fed to the inbox as its webhook would have been, and its sales
event told once, whichever way (or both) the change arrives. Record reads scripted, an injected clock, no network."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest

from bridge.app import create_app
from bridge.kernel.budget import current_priority
from bridge.kernel.clock import iso, parse_iso
from bridge.kernel.errors import Permanent, RateLimited, Transient
from bridge.worker.catchup import OVERLAP, cursor_name
from connectors.kintone import ApiSettings as KintoneApi
from connectors.kintone import KintoneConnector
from connectors.salesforce import ApiSettings as SalesforceApi
from connectors.salesforce import SalesforceConnector
from tests.conftest import KINTONE_TOKEN, SF_ORG, SF_TOKEN, T0
from tests.feedback.test_stage import FakeHubSpot
from tests.helpers import make_worker, post_kintone, post_salesforce
from tests.test_sales_side_changes import LEAD_ID, sf_message

KINTONE = "https://example.cybozu.com"
INTERVAL = 300
FORM = {"properties": {"更新日時": {"type": "UPDATED_TIME"}, "ステータス": {"type": "STATUS"},
                       "失注理由": {"type": "DROP_DOWN"}, "会社名": {"type": "SINGLE_LINE_TEXT"}}}


class Scripted:
    """The real connector (webhooks, polled events, changes); its record reads answered from `records`, each
    filtered by its time field as the system filters it. `refuse`: the error the next reads raise."""

    stamp: str

    def script(self):
        self.records, self.polls, self.refuse = {}, [], None
        return self

    def changed_since(self, object, since, fields):
        self.polls.append((object, since, current_priority()))
        if self.refuse is not None:
            raise self.refuse
        start = self.floor(since)
        for (app, _), record in sorted(self.records.items()):
            if app == object and parse_iso(record[self.stamp]) >= start:
                yield copy.deepcopy(record)

    def read(self, object, ids, fields, id_field=None):
        return {i: copy.deepcopy(self.records[(object, i)]) for i in ids if (object, i) in self.records}

    @staticmethod
    def floor(since):
        return since


class ScriptedKintone(Scripted, KintoneConnector):
    stamp = "更新日時"

    @staticmethod
    def floor(since):  # kintone compares from the start of the minute
        return since.replace(second=0, microsecond=0)

    def _form_fields(self, app):
        self.forms = getattr(self, "forms", 0) + 1
        return FORM["properties"]


class ScriptedSalesforce(Scripted, SalesforceConnector):
    stamp = "SystemModstamp"


def kintone_record(revision: int, status: str, at, **more) -> dict:
    """A record as kintone's REST API gives it (connectors/kintone.py flattens each field to its value)."""
    return {"$id": "2", "$revision": str(revision), "更新日時": at.strftime("%Y-%m-%dT%H:%M:00Z"),
            "ステータス": status, "会社名": "株式会社サンプル", **more}


def kintone_webhook(record: dict, notification: str) -> dict:
    """The webhook kintone sends for the same save: the record in its typed form."""
    types = {"$id": "__ID__", "$revision": "__REVISION__", **{k: v["type"] for k, v in FORM["properties"].items()}}
    return {"id": notification, "type": "UPDATE_RECORD", "app": {"id": "7", "name": "リード管理"},
            "record": {code: {"type": types[code], "value": value} for code, value in record.items()}}


class Setup:
    def __init__(self, app, store, clock, kintone, salesforce):
        self.app, self.store, self.clock, self.kintone, self.salesforce = app, store, clock, kintone, salesforce
        services = app.extensions["bridge"]
        self.hubspot = FakeHubSpot(services.connectors["hubspot"])
        services.connectors = {**services.connectors, "kintone": kintone, "salesforce": salesforce,
                               "hubspot": self.hubspot}
        with store.unit_of_work() as work:
            self.lead = work.leads.touch(clock(), hubspot_id="501")
            work.leads.save_record(self.lead, 1, "501", "taro@example.co.jp",
                                   json.dumps({"lifecyclestage": "marketingqualifiedlead"}), clock())
            assert work.leads.mark_handed_off(self.lead, "pricing", "handoff by pricing", clock())
            work.leads.link_record(self.lead, "kintone", "7", "2", clock())
            work.leads.link_record(self.lead, "salesforce", "Lead", LEAD_ID, clock())
        self.worker = make_worker(app, clock, connectors=services.connectors)
        self.client = app.test_client()
        self.catchup = self.worker.lanes["catchup"][0]

    def later(self, seconds: float) -> None:
        self.clock.advance(seconds=seconds)
        self.worker.drain()

    def told(self) -> list[str]:
        return [e["kind"] for e in self.store.sales.events(self.lead)]

    def changes(self, key: str) -> list[dict]:
        return self.store.changes.list(record_key=key)


@pytest.fixture
def setup(make_settings, clock, request):
    """A handed-off lead with a kintone record (app 7, record 2) and a Salesforce Lead; the kintone route enabled.
    Parametrise with the settings to add (BRIDGE_CATCHUP_SECONDS) through `request.param`."""
    extra = getattr(request, "param", {})
    settings = make_settings(KINTONE_BASE_URL=KINTONE, KINTONE_API_TOKEN="kintone-api-token", KINTONE_APP_ID="7",
                             SALESFORCE_CLIENT_ID="3MVG9-key", SALESFORCE_CLIENT_SECRET="secret-0123456789",
                             SALESFORCE_LOGIN_URL="https://acme.my.salesforce.com",
                             **{"BRIDGE_CATCHUP_SECONDS": str(INTERVAL), **extra})
    route = settings.mappings_dir / "hubspot-contact-to-kintone.yaml"
    route.write_text(route.read_text(encoding="utf-8").replace("enabled: false", "enabled: true"), encoding="utf-8")
    kintone = ScriptedKintone(KINTONE_TOKEN, frozenset({"7", "8"}),
                              KintoneApi(base_url=KINTONE, api_token="kintone-api-token", app_id="7"),
                              clock=clock).script()
    salesforce = ScriptedSalesforce(SF_ORG, SF_TOKEN, SalesforceApi(client_id="3MVG9-key", client_secret="s"),
                                    clock=clock).script()
    kintone.records[("7", "2")] = kintone_record(3, "新規", T0 - timedelta(days=1))
    app = create_app(settings, clock=clock)
    return Setup(app, app.extensions["bridge"].store, clock, kintone, salesforce)


def test_a_lost_kintone_webhook_is_caught_within_one_interval_and_told_once(setup, clock):
    setup.worker.drain()  # the first poll: nothing changed since an interval before it
    assert setup.told() == [] and setup.changes("app7:2") == []
    clock.advance(minutes=1)
    setup.kintone.records[("7", "2")] = kintone_record(4, "対応中", clock())  # saved; its webhook never comes
    setup.later(INTERVAL - 60)  # the next poll, one interval after the last
    assert setup.told() == ["contacted"]
    (change,) = setup.changes("app7:2")
    assert change["change_type"] == "updated" and change["lead_id"] == setup.lead
    (write,) = setup.hubspot.calls[-1]
    assert write["hs_lead_status"] == "IN_PROGRESS" and len(setup.hubspot.calls) == 1
    setup.later(INTERVAL)  # read again in the overlap, or not at all: nothing more
    setup.later(INTERVAL)
    assert setup.told() == ["contacted"] and len(setup.hubspot.calls) == 1 and len(setup.changes("app7:2")) == 1


def test_the_first_poll_reads_from_one_interval_back_and_each_moves_its_cursor_to_its_start(setup, clock):
    setup.worker.drain()
    (object, since, priority), = setup.kintone.polls
    assert (object, since, priority) == ("7", T0 - timedelta(seconds=INTERVAL) - OVERLAP, "feedback")
    assert setup.store.cursors.get(cursor_name("kintone", "7")) == iso(T0)
    polled = {p[0] for p in setup.salesforce.polls}
    assert polled == {"Lead", "Task", "Opportunity"}  # what the feedback rules watch (and the route writes to)
    setup.worker.drain()  # not due again before the interval is over
    clock.advance(seconds=INTERVAL - 1)
    setup.worker.drain()
    assert len(setup.kintone.polls) == 1
    setup.later(1)
    assert setup.kintone.polls[-1][1] == T0 - OVERLAP


@pytest.mark.parametrize("order", ["webhook first", "poll first"])
def test_a_change_arriving_by_webhook_and_by_poll_is_told_once(setup, clock, order):
    setup.worker.drain()
    clock.advance(minutes=1)
    record = kintone_record(4, "対応中", clock())
    setup.kintone.records[("7", "2")] = record
    if order == "webhook first":
        assert post_kintone(setup.client, kintone_webhook(record, "n-4")).status_code == 200
        setup.later(1)
        assert setup.told() == ["contacted"]
        setup.later(INTERVAL)
    else:
        setup.later(INTERVAL - 60)
        assert setup.told() == ["contacted"]
        assert post_kintone(setup.client, kintone_webhook(record, "n-4")).status_code == 200  # late, not lost
        setup.later(1)
    assert setup.told() == ["contacted"] and len(setup.hubspot.calls) == 1


def test_a_change_in_the_inbox_both_ways_at_once_is_told_once(setup, clock):
    setup.worker.drain()
    clock.advance(seconds=INTERVAL)
    record = kintone_record(4, "対応中", clock() - timedelta(minutes=1))
    setup.kintone.records[("7", "2")] = record
    assert post_kintone(setup.client, kintone_webhook(record, "n-4")).status_code == 200
    assert setup.catchup.run_once() == 1  # polled before the inbox took the webhook: both wait there
    setup.worker.drain()
    assert len(setup.changes("app7:2")) == 2  # the inbox heard it twice
    assert setup.told() == ["contacted"] and len(setup.hubspot.calls) == 1


def test_a_poll_with_nothing_new_adds_nothing(setup, clock):
    setup.worker.drain()
    clock.advance(minutes=4)
    setup.kintone.records[("7", "2")] = kintone_record(4, "対応中", clock())  # a minute before the next poll
    setup.later(INTERVAL - 240)
    assert setup.told() == ["contacted"]
    clock.advance(seconds=INTERVAL)
    assert setup.catchup.run_once() == 0  # read again in the overlap: the same version, applied already
    assert setup.kintone.polls[-1][1] <= parse_iso(setup.kintone.records[("7", "2")]["更新日時"])
    clock.advance(seconds=INTERVAL)
    assert setup.catchup.run_once() == 0 and len(setup.changes("app7:2")) == 1
    assert setup.store.cursors.get(cursor_name("kintone", "7")) == iso(clock())


def test_records_of_no_lead_are_not_fed(setup, clock):
    setup.worker.drain()
    clock.advance(minutes=1)
    setup.kintone.records[("7", "99")] = {**kintone_record(2, "対応中", clock()), "$id": "99"}
    clock.advance(seconds=INTERVAL - 60)
    assert setup.catchup.run_once() == 0 and setup.changes("app7:99") == []


@pytest.mark.parametrize("error", [RateLimited("kintone", "GET records: 429", retry_after=30),
                                   Transient("kintone", "GET records: 503")])
def test_a_refused_poll_leaves_the_cursor_and_the_next_interval_catches_up(setup, clock, error):
    setup.worker.drain()
    clock.advance(minutes=1)
    setup.kintone.records[("7", "2")] = kintone_record(4, "対応中", clock())
    setup.kintone.refuse = error
    clock.advance(seconds=INTERVAL - 60)
    setup.worker.drain()  # quietly: no exception, nothing added
    assert setup.told() == [] and setup.store.cursors.get(cursor_name("kintone", "7")) == iso(T0)
    polls = len(setup.kintone.polls)
    setup.worker.drain()
    assert len(setup.kintone.polls) == polls  # not asked again before the next interval
    setup.kintone.refuse = None
    setup.later(INTERVAL)
    assert setup.kintone.polls[-1][1] == T0 - OVERLAP  # from where the last poll that read to the end started
    assert setup.told() == ["contacted"]


def test_a_refused_object_stops_only_its_own_cursor(setup, clock):
    setup.salesforce.refuse = Permanent("salesforce", "INVALID_FIELD: No such column 'TaskSubtype'")
    setup.worker.drain()
    assert {p[0] for p in setup.salesforce.polls} == {"Lead", "Task", "Opportunity"}  # each tried: not retriable
    assert setup.store.cursors.get(cursor_name("salesforce", "Lead")) is None
    assert setup.store.cursors.get(cursor_name("kintone", "7")) == iso(T0)


@pytest.mark.parametrize("setup", [{"BRIDGE_CATCHUP_SECONDS": "0"}], indirect=True)
def test_catchup_seconds_0_polls_nothing(setup, clock):
    setup.kintone.records[("7", "2")] = kintone_record(4, "対応中", clock())
    for _ in range(3):
        setup.later(INTERVAL)
    assert setup.kintone.polls == [] and setup.salesforce.polls == [] and setup.told() == []


def test_a_system_whose_api_is_not_configured_is_not_polled(setup, clock):
    setup.kintone.api = KintoneApi()  # webhooks only
    setup.later(INTERVAL)
    assert setup.kintone.polls == [] and setup.salesforce.polls


def sf_lead(status: str, modstamp: str, **more) -> dict:
    """A Lead as the REST API gives it."""
    return {"Id": LEAD_ID, "Status": status, "IsConverted": False, "Disqualification_Reason__c": None,
            "LastModifiedDate": modstamp, "SystemModstamp": modstamp, **more}


def test_a_salesforce_status_change_whose_message_gave_up_is_caught_and_told_once(setup, clock):
    setup.worker.drain()
    clock.advance(minutes=1)
    setup.salesforce.records[("Lead", LEAD_ID)] = sf_lead("Working - Contacted", "2026-11-21T09:01:00.000+0000")
    setup.later(INTERVAL - 60)
    assert setup.told() == ["contacted"]
    (change,) = setup.changes(f"Lead:{LEAD_ID}")
    assert json.loads(change["fields"])["Status"] == "Working - Contacted"
    # The outbound message of the same save comes after all (a retry that finally got through): nothing new.
    body = sf_message("04l9", "2026-11-21T09:01:00.000Z", Status="Working - Contacted")
    assert post_salesforce(setup.client, body).status_code == 200
    setup.later(1)
    setup.later(INTERVAL)
    assert setup.told() == ["contacted"] and len(setup.hubspot.calls) == 1


def test_a_salesforce_message_then_the_poll_of_the_same_save_is_told_once(setup, clock):
    setup.worker.drain()
    clock.advance(minutes=1)
    setup.salesforce.records[("Lead", LEAD_ID)] = sf_lead("Qualified", "2026-11-21T09:01:00.000+0000")
    body = sf_message("04l9", "2026-11-21T09:01:00.000Z", Status="Qualified")
    assert post_salesforce(setup.client, body).status_code == 200
    setup.later(1)
    setup.later(INTERVAL)
    assert setup.told() == ["qualified"] and len(setup.hubspot.calls) == 1
    assert len(setup.changes(f"Lead:{LEAD_ID}")) == 1  # the poll found the version applied: not fed again


def test_a_record_holding_half_an_emoji_is_kept_aside_and_costs_the_records_beside_it_nothing(setup, clock):
    setup.worker.drain()
    clock.advance(minutes=1)
    setup.kintone.records[("7", "2")] = kintone_record(4, "対応中", clock())
    setup.kintone.records[("7", "3")] = kintone_record(9, "新規", clock(), **{"$id": "3", "会社名": "株式会社\ud83d"})
    setup.later(INTERVAL - 60)
    assert setup.told() == ["contacted"]  # the good record, polled beside the bad one, is told
    (rejected,) = setup.store.ingest.rejected()
    assert rejected["source"] == "kintone" and "app7:3" in rejected["reason"] and "surrogate" in rejected["reason"]
    assert setup.store.cursors.get(cursor_name("kintone", "7")) == iso(clock())  # the poll went on past it
