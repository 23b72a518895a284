"""Applying a route to a record: payload, preview rows, records that cannot be sent, write-back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.mapping import TO_SOURCE, RecordInvalid, apply_route, preview_route, winner
from tests.mapping.conftest import check


def route(fields_yaml: str):
    loaded = check(fields_yaml)
    assert loaded.errors == [], loaded.errors
    return loaded.route


def test_preview_rows_show_source_steps_default_and_key():
    r = route("""\
  - source: lastname
    target: LastName
    transforms: [trim, nfkc]
    default: (不明)
  - source: company
    target: Company
    transforms: [trim, nfkc]
  - target: Description
    transforms: [{template: "{lastname}様 ({bridge.stage})"}]
""")
    preview = preview_route(
        r,
        {
            "hs_object_id": 1001,
            "lastname": "\u3000",
            "company": "ｱｸﾒ㈱",
            "bridge.stage": "interest",
        },
    )
    key, last, company, description = preview.rows
    assert (key.field, key.value, key.source, key.key) == (
        "HubSpot_Contact_Id__c",
        "1001",
        "hs_object_id",
        True,
    )
    assert last.defaulted and last.value == "(不明)" and [s.output for s in last.steps] == ["", ""]
    assert [(s.transform, s.output) for s in company.steps] == [
        ("trim", "ｱｸﾒ㈱"),
        ("nfkc", "アクメ(株)"),
    ]
    assert description.source is None and description.reads == (
        ("lastname", "\u3000"),
        ("bridge.stage", "interest"),
    )
    assert description.value == "様 (interest)"
    assert preview.payload == {
        "HubSpot_Contact_Id__c": "1001",
        "LastName": "(不明)",
        "Company": "アクメ(株)",
        "Description": "様 (interest)",
    }
    assert preview.errors == ()
    assert preview.to_dict()["rows"][2]["steps"][1] == {"transform": "nfkc", "output": "アクメ(株)"}


def test_empty_values_are_not_sent():
    r = route("""\
  - source: jobtitle
    target: Title
    transforms: [trim]
""")
    assert apply_route(r, {"hs_object_id": "1", "jobtitle": " \u3000 "}) == {"HubSpot_Contact_Id__c": "1"}


def test_required_field_empty_and_a_failed_transform_stop_the_record_naming_every_field():
    r = route("""\
  - source: email
    target: Email
    required: true
  - source: bridge.score
    target: Bridge_Score__c
    transforms: [number]
  - source: phone
    target: Phone
""")
    record = {"hs_object_id": "1", "email": "", "bridge.score": "high", "phone": "03-1234-5678"}
    with pytest.raises(RecordInvalid) as error:
        apply_route(r, record)
    assert error.value.fields == ("Email", "Bridge_Score__c")
    assert error.value.problems == [
        "Email: required but empty (no value and no default)",
        "Bridge_Score__c: number: 'high' is not a number",
    ]
    preview = preview_route(r, record)
    assert preview.payload == {"HubSpot_Contact_Id__c": "1", "Phone": "03-1234-5678"}
    assert len(preview.errors) == 2


def test_missing_upsert_key_stops_the_record():
    r = route("""\
  - source: email
    target: Email
""")
    with pytest.raises(RecordInvalid, match="upsert key hs_object_id is empty"):
        apply_route(r, {"email": "a@example.com"})


def test_directions_decide_which_entries_are_applied_each_way():
    r = route("""\
  - source: email
    target: Email
  - source: hs_lead_status
    target: Status
    direction: to_source
    transforms:
      - map: {values: {Working - Contacted: IN_PROGRESS}, default: OPEN}
  - source: lifecyclestage
    target: Lead_Stage__c
    direction: both
    conflict: target_unless_blank
    transforms: [upper]
    reverse: [lower]
  - source: fax
    target: Fax
    direction: none
""")
    source_record = {
        "hs_object_id": "7",
        "email": "a@example.com",
        "hs_lead_status": "NEW",
        "lifecyclestage": "lead",
        "fax": "03",
    }
    assert apply_route(r, source_record) == {
        "HubSpot_Contact_Id__c": "7",
        "Email": "a@example.com",
        "Lead_Stage__c": "LEAD",
    }
    target_record = {
        "HubSpot_Contact_Id__c": "7",
        "Email": "b@example.com",
        "Status": "Working - Contacted",
        "Lead_Stage__c": "MQL",
        "Fax": "04",
    }
    assert apply_route(r, target_record, TO_SOURCE) == {
        "hs_object_id": "7",
        "hs_lead_status": "IN_PROGRESS",
        "lifecyclestage": "mql",
    }


def test_unknown_direction_is_a_programming_error():
    with pytest.raises(ValueError, match="direction must be"):
        preview_route(route("  - source: email\n    target: Email\n"), {}, "sideways")


def test_conflict_rules():
    early, late = datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC)
    assert winner("source_wins", "a", "b") == "source"
    assert winner("target_wins", "a", "b") == "target"
    assert winner("target_unless_blank", "a", "b") == "target"
    assert winner("target_unless_blank", "a", "\u3000") == "source"
    assert winner("newest_wins", "a", "b", late, early) == "source"
    assert winner("newest_wins", "a", "b", early, late) == "target"
    assert winner("newest_wins", "a", "b", early, early) == "target"
    with pytest.raises(ValueError, match="needs the change time"):
        winner("newest_wins", "a", "b", early, None)
