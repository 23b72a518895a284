"""The Salesforce sandbox's sales side over loopback: Contact, Task and Opportunity beside Lead (describe, SOQL, reads
by Bridge's own connector), and what a rep does through the control API (status, logged calls, conversion, won/lost)."""

from __future__ import annotations

import pytest

from connectors.registry import load_connectors

TASK_FIELDS_READ = ["WhoId", "TaskSubtype", "CallDisposition", "CreatedDate", "LastModifiedDate", "SystemModstamp"]


def seed_lead(control, **fields) -> str:
    record = {"LastName": "山田", "FirstName": "太郎", "Company": "株式会社サンプル", "Email": "t@example.co.jp",
              **fields}
    return control.post("/salesforce/leads", json={"records": [record]}).json()["ids"][0]


def refused(reply, code: str) -> None:
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == code


def test_each_object_is_described_with_its_key_prefix_and_the_fields_feedback_reads(salesforce):
    described = {name: salesforce.get(f"/sobjects/{name}/describe").json()
                 for name in ("Lead", "Contact", "Task", "Opportunity")}
    assert {name: d["keyPrefix"] for name, d in described.items()} == {
        "Lead": "00Q", "Contact": "003", "Task": "00T", "Opportunity": "006"}
    fields = {name: {f["name"]: f for f in d["fields"]} for name, d in described.items()}
    lead, task, deal = fields["Lead"], fields["Task"], fields["Opportunity"]
    statuses = [p["value"] for p in lead["Status"]["picklistValues"]]
    assert {"Working - Contacted", "Qualified", "Closed - Not Converted", "Recycled"} <= set(statuses)
    assert "No Budget" in [p["value"] for p in lead["Disqualification_Reason__c"]["picklistValues"]]
    assert lead["ConvertedOpportunityId"]["referenceTo"] == ["Opportunity"]
    assert lead["ConvertedContactId"]["updateable"] is False
    assert task["WhoId"]["referenceTo"] == ["Contact", "Lead"]
    assert task["TaskSubtype"]["createable"] is True and task["TaskSubtype"]["updateable"] is False
    assert task["CallDisposition"]["type"] == "string"
    required = [n for n, f in deal.items() if not f["nillable"] and f["createable"] and not f["defaultedOnCreate"]]
    assert sorted(required) == ["CloseDate", "Name", "StageName"]
    assert deal["IsWon"]["createable"] is False and deal["Amount"]["type"] == "currency"
    assert "Closed Lost" in [p["value"] for p in deal["StageName"]["picklistValues"]]


def test_a_reps_status_change_with_a_reason_is_checked_against_the_picklists(control):
    lead_id = seed_lead(control)
    changed = control.patch(f"/salesforce/leads/{lead_id}", json={
        "fields": {"Status": "Closed - Not Converted", "Disqualification_Reason__c": "No Budget"}})
    assert changed.json()["Status"] == "Closed - Not Converted"
    assert changed.json()["Disqualification_Reason__c"] == "No Budget"
    refused(control.patch(f"/salesforce/leads/{lead_id}", json={"fields": {"Disqualification_Reason__c": "Shoes"}}),
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    refused(control.patch(f"/salesforce/leads/{lead_id}", json={"fields": {"IsConverted": True}}),
            "INVALID_FIELD_FOR_INSERT_UPDATE")


def test_a_logged_call_is_a_task_on_the_lead_and_names_only_records_that_exist(control):
    lead_id = seed_lead(control)
    call = {"WhoId": lead_id, "TaskSubtype": "Call", "CallDisposition": "No Answer", "Subject": "Call",
            "Status": "Completed"}
    task_id = control.post("/salesforce/tasks", json={"records": [call]}).json()["ids"][0]
    task = control.get(f"/salesforce/tasks/{task_id}").json()
    assert task_id.startswith("00T") and len(task_id) == 18
    assert (task["WhoId"], task["CallDisposition"], task["IsClosed"], task["Priority"]) == (
        lead_id, "No Answer", True, "Normal")
    email = control.post("/salesforce/tasks", json={"records": [{"WhoId": lead_id, "TaskSubtype": "Email"}]})
    assert control.get(f"/salesforce/tasks/{email.json()['ids'][0]}").json()["IsClosed"] is False  # Not Started
    missing = lead_id[:-6] + "999AAA"
    refused(control.post("/salesforce/tasks", json={"records": [{**call, "WhoId": missing}]}),
            "INVALID_CROSS_REFERENCE_KEY")
    a_user = "0055g0000000001AAA"  # a User: not something a WhoId may name
    refused(control.post("/salesforce/tasks", json={"records": [{**call, "WhoId": a_user}]}),
            "INVALID_CROSS_REFERENCE_KEY")
    refused(control.patch(f"/salesforce/tasks/{task_id}", json={"fields": {"TaskSubtype": "Email"}}),
            "INVALID_FIELD_FOR_INSERT_UPDATE")  # the subtype is set once, when the task is logged


def test_conversion_makes_a_contact_and_an_opportunity_and_locks_the_lead(control, clock):
    lead_id = seed_lead(control, Title="部長", LeadSource="Web")
    lead = control.post(f"/salesforce/leads/{lead_id}/convert",
                        json={"opportunity": {"Name": "サンプル 2026", "Amount": 1200000}}).json()
    assert (lead["IsConverted"], lead["Status"], lead["ConvertedDate"]) == (True, "Closed - Converted", "2026-01-05")
    contact = control.get(f"/salesforce/contacts/{lead['ConvertedContactId']}").json()
    assert contact["Id"].startswith("003")
    assert (contact["Name"], contact["Title"], contact["Email"], contact["LeadSource"]) == (
        "太郎 山田", "部長", "t@example.co.jp", "Web")
    deal = control.get(f"/salesforce/opportunities/{lead['ConvertedOpportunityId']}").json()
    assert (deal["Name"], deal["Amount"], deal["StageName"], deal["CloseDate"], deal["IsClosed"]) == (
        "サンプル 2026", 1200000.0, "Prospecting", "2026-02-04", False)
    refused(control.post(f"/salesforce/leads/{lead_id}/convert"), "CANNOT_UPDATE_CONVERTED_LEAD")
    refused(control.patch(f"/salesforce/leads/{lead_id}", json={"fields": {"Status": "Recycled"}}),
            "CANNOT_UPDATE_CONVERTED_LEAD")


def test_conversion_without_an_opportunity_and_a_refused_one_that_leaves_nothing_behind(control):
    bare = control.post(f"/salesforce/leads/{seed_lead(control)}/convert", json={"opportunity": False}).json()
    assert bare["ConvertedContactId"] and bare["ConvertedOpportunityId"] is None
    lead_id = seed_lead(control, Email="b@example.co.jp")
    refused(control.post(f"/salesforce/leads/{lead_id}/convert", json={"opportunity": {"StageName": "Won-ish"}}),
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    assert len(control.get("/salesforce/contacts").json()) == 1  # the first conversion's only
    assert control.get(f"/salesforce/leads/{lead_id}").json()["IsConverted"] is False
    assert control.post("/salesforce/leads/00Q5g0000009999AAA/convert").status_code == 404


@pytest.mark.parametrize(("stage", "closed", "won"), [("Closed Won", True, True), ("Closed Lost", True, False),
                                                      ("Negotiation/Review", False, False)])
def test_closing_an_opportunity_sets_closed_and_won_from_the_stage(control, stage, closed, won):
    lead = control.post(f"/salesforce/leads/{seed_lead(control)}/convert").json()
    fields = {"StageName": stage, "Amount": 500000, "CloseDate": "2026-01-30"}
    if stage == "Closed Lost":
        fields["Loss_Reason__c"] = "Lost to Competitor"
    deal = control.patch(f"/salesforce/opportunities/{lead['ConvertedOpportunityId']}", json={"fields": fields}).json()
    assert (deal["StageName"], deal["IsClosed"], deal["IsWon"], deal["Amount"], deal["CloseDate"]) == (
        stage, closed, won, 500000.0, "2026-01-30")


def test_bridges_connector_reads_tasks_and_opportunities_through_soql(sandbox, control):
    lead_id = seed_lead(control)
    tasks = [{"WhoId": lead_id, "TaskSubtype": "Call", "CallDisposition": f"Connected {i}"} for i in range(3)]
    task_ids = control.post("/salesforce/tasks", json={"records": tasks}).json()["ids"]
    lead = control.post(f"/salesforce/leads/{lead_id}/convert", json={"opportunity": {"Amount": 10}}).json()
    connectors, problems = load_connectors(sandbox.env())
    assert problems == []
    salesforce = connectors["salesforce"]
    read = salesforce.read("Task", [*task_ids[:2], "00T5g0000009999AAA"], TASK_FIELDS_READ)
    assert sorted(read) == sorted(task_ids[:2])
    assert read[task_ids[0]]["WhoId"] == lead_id and read[task_ids[0]]["CallDisposition"] == "Connected 0"
    deal = salesforce.read("Opportunity", [lead["ConvertedOpportunityId"]], ["IsWon", "IsClosed", "Amount"])
    assert deal[lead["ConvertedOpportunityId"]]["IsWon"] is False
    converted = salesforce.read("Lead", [lead_id], ["IsConverted", "ConvertedContactId", "ConvertedOpportunityId"])
    assert converted[lead_id]["ConvertedContactId"] == lead["ConvertedContactId"]


def test_soql_pages_of_any_object_follow_their_locator(salesforce, control):
    lead_id = seed_lead(control)
    records = [{"WhoId": lead_id, "TaskSubtype": "Email", "Subject": f"mail {i}"} for i in range(250)]
    control.post("/salesforce/tasks", json={"webhooks": False, "records": records})
    soql = f"SELECT Id, Subject FROM Task WHERE WhoId = '{lead_id}'"  # noqa: S608 (SOQL for the simulator)
    first = salesforce.get("/query", params={"q": soql}, headers={"Sforce-Query-Options": "batchSize=200"}).json()
    assert (first["totalSize"], first["done"], len(first["records"])) == (250, False, 200)
    rest = salesforce.get(first["nextRecordsUrl"].split("/services/data/v62.0", 1)[1]).json()
    assert rest["done"] is True and len(rest["records"]) == 50
    assert rest["records"][0]["attributes"]["type"] == "Task"
    unknown = salesforce.get("/query", params={"q": "SELECT Id FROM Account"})
    assert unknown.json()[0]["errorCode"] == "INVALID_TYPE"
    wrong = salesforce.get("/query", params={"q": "SELECT StageName FROM Task"})
    assert wrong.json()[0]["errorCode"] == "INVALID_FIELD" and "'Task'" in wrong.json()[0]["message"]
