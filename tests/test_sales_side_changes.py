"""Changes from the sales systems find their lead through its records, and what Bridge wrote itself comes back as
an echo, for every system: a Salesforce outbound message or a kintone webhook equal to our own upsert triggers
nothing; one older than what was applied is stale; a rep's edit is a change."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from tests.helpers import kintone_notification, make_worker, post_kintone, post_salesforce

LEAD_ID = "00Q5g0000012345"
WRITTEN = {"LastName": "山田", "Company": "株式会社サンプル", "Email": "taro@example.co.jp"}


def sf_message(notification: str, modstamp: str, **fields: str) -> bytes:
    values = "".join(f"<sf:{name}>{value}</sf:{name}>" for name, value in {**WRITTEN, **fields}.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        "<OrganizationId>00D5g000004Z1xYEAS</OrganizationId><ActionId>04k5g000000AAAA</ActionId>"
        f"<Notification><Id>{notification}</Id>"
        '<sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{LEAD_ID}</sf:Id>{values}<sf:SystemModstamp>{modstamp}</sf:SystemModstamp>"
        "</sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


@pytest.fixture
def lead(store, clock):
    """A handed-off lead whose Salesforce Lead and kintone record Bridge wrote (and remembers writing)."""
    with store.unit_of_work() as work:
        lead_id = work.leads.touch(clock(), hubspot_id="501")
        work.leads.link_record(lead_id, "salesforce", "Lead", LEAD_ID, clock())
        work.leads.link_record(lead_id, "kintone", "7", "2", clock())
    store.echoes.remember("salesforce", {LEAD_ID: WRITTEN}, clock())
    store.echoes.remember("kintone", {"2": {"会社名": "株式会社サンプル"}}, clock())
    return lead_id


def kinds(store, source: str) -> list[str]:
    return [c["change_type"] for c in store.changes.list() if c["source"] == source]


def test_a_salesforce_message_bringing_back_our_own_upsert_is_an_echo_and_a_reps_edit_is_not(client, store,
                                                                                             clock, lead):
    worker = make_worker(client.application)
    assert post_salesforce(client, sf_message("04l1", "2026-11-21T09:00:00.000Z")).status_code == 200
    clock.advance(seconds=1)
    post_salesforce(client, sf_message("04l2", "2026-11-21T09:05:00.000Z", Status="Working - Contacted"))
    clock.advance(seconds=1)
    worker.drain()
    assert kinds(store, "salesforce") == ["echo", "updated"]
    changes = [c for c in store.changes.list() if c["source"] == "salesforce"]
    assert {c["lead_id"] for c in changes} == {lead}  # found through the lead's records, not a column per system


def test_an_older_message_after_a_newer_one_is_stale(client, store, clock, lead):
    worker = make_worker(client.application)
    post_salesforce(client, sf_message("04l2", "2026-11-21T09:05:00.000Z", Status="Working - Contacted"))
    clock.advance(seconds=1)
    worker.drain()
    post_salesforce(client, sf_message("04l1", "2026-11-21T09:00:00.000Z", Status="Open - Not Contacted"))
    clock.advance(seconds=1)
    worker.drain()
    assert kinds(store, "salesforce") == ["updated", "stale"]
    version, _ = store.leads.record_state("salesforce", "Lead", LEAD_ID)
    assert version.startswith("2026-11-21T09:05")  # the newest seen; the stale one did not set it back


def test_a_kintone_webhook_of_our_own_write_is_an_echo_and_an_older_revision_stale(client, store, clock, lead):
    worker = make_worker(client.application)
    ours = kintone_notification("n-1", app_id="7", record_id="2")
    edited = copy.deepcopy(ours)
    edited["id"], edited["record"]["$revision"]["value"] = "n-2", "4"
    edited["record"]["ステータス"] = {"type": "DROP_DOWN", "value": "対応中"}
    for payload in (ours, edited):
        assert post_kintone(client, payload).status_code == 200
        clock.advance(seconds=1)
        worker.drain()
    older = copy.deepcopy(ours)
    older["id"] = "n-3"
    post_kintone(client, older)
    clock.advance(seconds=1)
    worker.drain()
    assert kinds(store, "kintone") == ["echo", "updated", "stale"]


def test_changes_of_records_no_lead_owns_are_kept_without_a_lead(client, store, clock):
    post_salesforce(client, sf_message("04l9", "2026-11-21T09:00:00.000Z"))
    clock.advance(seconds=1)
    make_worker(client.application).drain()
    (change,) = store.changes.list()
    assert change["lead_id"] is None and change["change_type"] == "updated"


def test_our_own_writes_are_forgotten_after_a_day(client, store, clock, lead):
    clock.advance(hours=25)
    post_salesforce(client, sf_message("04l1", "2026-11-22T10:00:00.000Z"))
    clock.advance(seconds=timedelta(seconds=1).total_seconds())
    make_worker(client.application).drain()
    assert kinds(store, "salesforce") == ["updated"]  # the values are no longer known to be ours
