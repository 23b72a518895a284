"""The connector calls an SLA to-do makes: Salesforce sObject Collections create (a Task), a kintone record comment."""

from __future__ import annotations

import json

import pytest

from bridge.kernel.env import EnvReader
from bridge.kernel.errors import Permanent, Transient
from connectors.kintone import MAX_COMMENT, MAX_MENTIONS, KintoneConnector
from connectors.salesforce import SalesforceConnector
from connectors.testing import script
from tests.connectors.test_kintone import BASE, ENV
from tests.connectors.test_salesforce import DATA, INSTANCE, token_reply
from tests.connectors.test_salesforce import TestSalesforceContract as _Contract  # its settings only

CREATE = f"{DATA}/composite/sobjects"
COMMENT = f"{BASE}/k/v1/record/comment.json"


def saved(body) -> tuple[int, list]:
    """Collections create answers each record with a SaveResult: id, success, errors (no `created` flag)."""
    return 200, [{"id": f"00T5g0000{i:06d}AAA", "success": True, "errors": []} for i, _ in enumerate(body["records"])]


@pytest.fixture
def salesforce(clock, rsps) -> SalesforceConnector:
    rsps.post(f"{INSTANCE}/services/oauth2/token", json=token_reply())
    return SalesforceConnector.from_env(EnvReader(_Contract.settings), clock=clock)


def task(i: int) -> dict:
    return {"WhoId": f"00Q5g0000{i:06d}AAA", "Subject": "初回連絡の期限を過ぎました / First-touch deadline missed",
            "Status": "Not Started", "Priority": "High"}


def test_tasks_are_created_200_a_call_each_on_its_own(salesforce, rsps):
    script(rsps, "POST", CREATE, saved)
    results = salesforce.create("Task", [task(i) for i in range(201)])
    assert [r.outcome for r in results] == ["created"] * 201
    assert [r.key for r in results[:3]] == ["0", "1", "2"] and results[200].id == "00T5g0000000000AAA"
    calls = [c for c in rsps.calls if c.request.url == CREATE]
    assert [len(json.loads(c.request.body)["records"]) for c in calls] == [200, 1]
    body = json.loads(calls[0].request.body)
    assert body["allOrNone"] is False
    assert body["records"][0] == {"attributes": {"type": "Task"}, **task(0)}
    assert salesforce.calls["POST composite/sobjects Task"] == 2


def test_a_record_salesforce_refuses_is_a_failed_result_beside_the_created_ones(salesforce, rsps):
    def one_refused(body):
        status, items = saved(body)
        error = {"statusCode": "INVALID_CROSS_REFERENCE_KEY", "message": "invalid cross reference id",
                 "fields": ["WhoId"]}
        items[1] = {"id": None, "success": False, "errors": [error]}
        return status, items

    script(rsps, "POST", CREATE, one_refused)
    first, second = salesforce.create("Task", [task(0), task(1)])
    assert first.outcome == "created"
    assert (second.outcome, second.code, second.category, second.fields) == (
        "failed", "INVALID_CROSS_REFERENCE_KEY", "permanent", ("WhoId",))


def test_a_call_refused_as_a_whole_raises_before_anything_is_created(salesforce, rsps):
    script(rsps, "POST", CREATE, (503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "busy"}]))
    with pytest.raises(Transient):
        salesforce.create("Task", [task(0)])


def test_after_a_first_call_the_rest_come_back_failed_with_the_error(salesforce, rsps):
    script(rsps, "POST", CREATE, saved, (503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "busy"}]))
    results = salesforce.create("Task", [task(i) for i in range(250)])
    assert [r.outcome for r in results].count("created") == 200
    assert all(r.outcome == "failed" and isinstance(r.error, Transient) for r in results[200:])


def test_an_object_name_that_is_not_an_api_name_is_refused_without_a_call(salesforce, rsps):
    with pytest.raises(Permanent):
        salesforce.create("Task; DROP", [task(0)])
    assert not [c for c in rsps.calls if c.request.url == CREATE]


@pytest.fixture
def kintone(clock, rsps) -> KintoneConnector:
    return KintoneConnector.from_env(EnvReader(ENV), clock=clock)


def test_a_comment_mentions_the_owner_as_a_user(kintone, rsps):
    script(rsps, "POST", COMMENT, (200, {"id": 3}))
    assert kintone.add_comment("7", "12", "初回連絡の期限を過ぎました", ["sato", "sato"]) == "3"
    (call,) = [c for c in rsps.calls if c.request.url == COMMENT]
    assert json.loads(call.request.body) == {"app": "7", "record": "12", "comment": {
        "text": "初回連絡の期限を過ぎました", "mentions": [{"code": "sato", "type": "USER"}]}}
    assert kintone.calls["POST record/comment"] == 1


def test_a_comment_keeps_within_kintones_limits(kintone, rsps):
    script(rsps, "POST", COMMENT, (200, {"id": 4}))
    kintone.add_comment("7", "12", "x" * (MAX_COMMENT + 10), [f"user{i}" for i in range(12)])
    comment = json.loads(rsps.calls[-1].request.body)["comment"]
    assert len(comment["text"]) == MAX_COMMENT and comment["text"].endswith("…")
    assert len(comment["mentions"]) == MAX_MENTIONS


def test_a_comment_without_an_owner_mentions_nobody(kintone, rsps):
    script(rsps, "POST", COMMENT, (200, {"id": 5}))
    kintone.add_comment("7", "12", "text")
    assert "mentions" not in json.loads(rsps.calls[-1].request.body)["comment"]
