"""What an SLA to-do calls, served by the sandbox over loopback: Salesforce sObject Collections create (a Task on a
Lead, read back by SOQL, allOrNone, the 200 limit) and kintone record comments (post with mentions, read ten at a
time), also through Bridge's own connectors."""

from __future__ import annotations

from connectors.registry import load_connectors
from tests.sandbox.test_salesforce_sales import seed_lead

SUBJECT = "初回連絡の期限を過ぎました / First-touch deadline missed"


def task(lead_id: str, **fields) -> dict:
    return {"attributes": {"type": "Task"}, "WhoId": lead_id, "Subject": SUBJECT, "ActivityDate": "2026-01-05",
            "Status": "Not Started", "Priority": "High", "OwnerId": "0055g0000000007AAA", **fields}


def test_collections_create_makes_tasks_each_on_its_own(salesforce, control):
    lead_id = seed_lead(control)
    missing = lead_id[:-6] + "999AAA"
    reply = salesforce.post("/composite/sobjects", json={"allOrNone": False,
                                                         "records": [task(lead_id), task(missing)]})
    assert reply.status_code == 200, reply.text
    made, refused_one = reply.json()
    assert made["success"] is True and made["id"].startswith("00T") and "created" not in made
    assert refused_one["success"] is False
    assert refused_one["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    select = "SELECT Id, WhoId, OwnerId, Subject, Priority, Status, TaskSubtype, IsClosed FROM Task"
    soql = f"{select} WHERE WhoId = '{lead_id}'"  # noqa: S608 (a test's own query of the sandbox)
    (row,) = salesforce.get("/query", params={"q": soql}).json()["records"]
    assert (row["Id"], row["OwnerId"], row["Subject"], row["Priority"]) == (made["id"], "0055g0000000007AAA",
                                                                            SUBJECT, "High")
    assert (row["Status"], row["TaskSubtype"], row["IsClosed"]) == ("Not Started", None, False)  # no call logged


def test_all_or_none_rolls_back_and_the_limits_are_kept(salesforce, control):
    lead_id = seed_lead(control)
    missing = lead_id[:-6] + "999AAA"
    body = salesforce.post("/composite/sobjects", json={"allOrNone": True,
                                                        "records": [task(lead_id), task(missing)]}).json()
    assert body[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    soql = f"SELECT Id FROM Task WHERE WhoId = '{lead_id}'"  # noqa: S608 (a test's own query of the sandbox)
    assert salesforce.get("/query", params={"q": soql}).json()["records"] == []
    too_many = salesforce.post("/composite/sobjects", json={"records": [task(lead_id)] * 201})
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    untyped = salesforce.post("/composite/sobjects", json={"records": [{"Subject": "x"}]})
    assert untyped.status_code == 400 and untyped.json()[0]["errorCode"] == "INVALID_TYPE"


def test_bridges_connector_creates_a_task_in_the_sandbox(sandbox, control):
    lead_id = seed_lead(control)
    connectors, problems = load_connectors(sandbox.env())
    assert problems == []
    (result,) = connectors["salesforce"].create("Task", [{k: v for k, v in task(lead_id).items()
                                                          if k != "attributes"}])
    assert result.outcome == "created"
    assert control.get(f"/salesforce/tasks/{result.id}").json()["WhoId"] == lead_id


def add_record(control) -> str:
    return control.post("/kintone/apps/1/records", json={"records": [{"company": "A"}]}).json()["ids"][0]


def test_a_comment_is_posted_with_mentions_and_read_back_newest_first(kintone, control):
    record_id = add_record(control)
    first = kintone.post("/record/comment.json", json={"app": 1, "record": record_id, "comment": {
        "text": "期限を過ぎました", "mentions": [{"code": "sato", "type": "USER"}]}})
    assert first.status_code == 200, first.text
    assert first.json() == {"id": 1}
    for n in range(11):
        kintone.post("/record/comment.json", json={"app": 1, "record": record_id, "comment": {"text": f"c{n}"}})
    page = kintone.get("/record/comments.json", params={"app": 1, "record": record_id}).json()
    assert len(page["comments"]) == 10 and page["comments"][0]["text"] == "c10"
    assert (page["older"], page["newer"]) == (True, False)
    oldest = kintone.get("/record/comments.json", params={"app": 1, "record": record_id, "order": "asc",
                                                          "limit": 1}).json()
    (comment,) = oldest["comments"]
    assert comment["id"] == "1" and comment["mentions"] == [{"code": "sato", "type": "USER"}]
    assert comment["text"] == "sato \n期限を過ぎました"  # kintone puts the mentions before the text
    assert (oldest["older"], oldest["newer"]) == (False, True)


def test_comments_are_refused_as_kintone_refuses_them(kintone, control):
    record_id = add_record(control)
    missing = kintone.post("/record/comment.json", json={"app": 1, "record": 9999, "comment": {"text": "x"}})
    assert missing.status_code == 404 and missing.json()["code"] == "GAIA_RE01"
    empty = kintone.post("/record/comment.json", json={"app": 1, "record": record_id, "comment": {"text": ""}})
    assert empty.status_code == 400 and "comment.text" in empty.json()["errors"]
    crowd = [{"code": f"u{i}", "type": "USER"} for i in range(11)]
    many = kintone.post("/record/comment.json", json={"app": 1, "record": record_id,
                                                      "comment": {"text": "x", "mentions": crowd}})
    assert many.status_code == 400 and "comment.mentions" in many.json()["errors"]
    wide = kintone.get("/record/comments.json", params={"app": 1, "record": record_id, "limit": 11})
    assert wide.status_code == 400


def test_bridges_connector_comments_in_the_sandbox(sandbox, control):
    record_id = add_record(control)
    connectors, problems = load_connectors(sandbox.env())
    assert problems == []
    comment_id = connectors["kintone"].add_comment("1", record_id, "期限を過ぎました", ["sato"])
    assert comment_id == "1"
    (comment,) = sandbox.kintone.comments.of("1", int(record_id))
    assert comment["mentions"] == [{"code": "sato", "type": "USER"}]
