"""The shipped mappings: valid alone and against the described objects, and what they send."""

from __future__ import annotations

import json

import pytest

from bridge.mapping import apply_route, check_folder, mapping_json_schema, preview_route
from bridge.mapping.files import load_document, route_files
from bridge.mapping.sample import HUBSPOT_CONTACT, sample_record
from tests.mapping.conftest import ENV, MAPPINGS, describe

REASON = HUBSPOT_CONTACT["bridge.reason"]


def test_there_are_two_shipped_routes():
    assert [p.name for p in route_files(MAPPINGS)] == [
        "hubspot-contact-to-kintone.yaml",
        "hubspot-contact-to-salesforce-lead.yaml",
    ]


def test_every_shipped_mapping_validates_against_the_described_objects():
    report = check_folder(MAPPINGS, ENV, describe)
    assert report.errors == [] and report.warnings == []
    assert sorted(report.routes) == [
        "hubspot-contact-to-kintone",
        "hubspot-contact-to-salesforce-lead",
    ]
    assert report.routes["hubspot-contact-to-kintone"].target.object == "7"


def test_without_kintone_app_id_the_disabled_kintone_route_only_warns(tmp_path):
    report = check_folder(MAPPINGS, {})
    assert report.errors == []
    assert [str(w) for w in report.warnings] == [
        f"{MAPPINGS / 'hubspot-contact-to-kintone.yaml'}:43: target.object: setting KINTONE_APP_ID "
        "is not set; set it, or set `enabled: false` on this route"
    ]
    enabled = (MAPPINGS / "hubspot-contact-to-kintone.yaml").read_text(encoding="utf-8").replace(
        "\nenabled: false", "\nenabled: true")
    (tmp_path / "hubspot-contact-to-kintone.yaml").write_text(enabled, encoding="utf-8")
    assert [e.where for e in check_folder(tmp_path, {}).errors] == ["target.object"]


def _routes():
    return check_folder(MAPPINGS, ENV).routes


def test_salesforce_payload_for_the_sample_record():
    record = sample_record("hubspot", "contacts")
    assert apply_route(_routes()["hubspot-contact-to-salesforce-lead"], record) == {
        "HubSpot_Contact_Id__c": "1001",
        "Email": "taro.yamada@example.co.jp",
        "LastName": "山田",
        "FirstName": "太郎",
        "Company": "ヤマダソフトウェア(株)",
        "Title": "営業部長",
        "Phone": "03-1234-5678",
        "Industry": "Technology",
        "NumberOfEmployees": 300,
        "LeadSource": "Web",
        "Bridge_Score__c": 115,
        "Bridge_Stage__c": "consideration",
        "Bridge_Temperature__c": "hot",
        "Rating": "Hot",
        "Bridge_Handoff_Reason__c": REASON,
    }


def test_kintone_payload_for_the_sample_record():
    payload = apply_route(_routes()["hubspot-contact-to-kintone"], sample_record("hubspot", "contacts"))
    assert payload == {
        "hubspot_contact_id": "1001",
        "email": "taro.yamada@example.co.jp",
        "company": "ヤマダソフトウェア(株)",
        "last_name": "山田",
        "first_name": "太郎",
        "full_name": "山田 太郎",
        "title": "営業部長",
        "phone": "03-1234-5678",
        "industry": "情報通信業",
        "employees": 300,
        "lead_source": "HubSpot",
        "score": 115,
        "stage": "検討",
        "temperature": "hot",
        "handoff_reason": REASON,
        "handoff_at": "2026-04-02T01:02:03Z",
    }


def test_source_fields_are_what_to_read_from_hubspot():
    routes = _routes()
    assert routes["hubspot-contact-to-salesforce-lead"].source_fields() == (
        "hs_object_id",
        "email",
        "lastname",
        "firstname",
        "company",
        "jobtitle",
        "phone",
        "industry",
        "numemployees",
    )
    assert routes["hubspot-contact-to-kintone"].source_fields() == (
        "hs_object_id",
        "email",
        "company",
        "lastname",
        "firstname",
        "jobtitle",
        "phone",
        "industry",
        "numemployees",
    )


def test_a_sparse_contact_still_gets_salesforce_required_fields():
    payload = apply_route(
        _routes()["hubspot-contact-to-salesforce-lead"],
        {"hs_object_id": "42", "email": "info@example.com", "industry": "農業", "company": " "},
    )
    assert payload == {
        "HubSpot_Contact_Id__c": "42",
        "Email": "info@example.com",
        "LastName": "(不明)",
        "Company": "(不明)",
        "Industry": "Other",
        "LeadSource": "Web",
    }


def test_an_unlisted_employee_range_is_not_sent():
    preview = preview_route(
        _routes()["hubspot-contact-to-salesforce-lead"],
        {"hs_object_id": "42", "numemployees": "10000+"},
    )
    row = next(r for r in preview.rows if r.field == "NumberOfEmployees")
    assert not row.sent and row.error is None and "not in the map" in row.notes[0]


def test_western_names_join_given_name_first_in_kintone():
    payload = apply_route(
        _routes()["hubspot-contact-to-kintone"],
        {"hs_object_id": "43", "firstname": "Taro", "lastname": "Yamada"},
    )
    assert payload["full_name"] == "Taro Yamada"


@pytest.mark.parametrize("path", route_files(MAPPINGS), ids=lambda p: p.name)
def test_the_json_schema_accepts_every_shipped_mapping(path):
    jsonschema = pytest.importorskip("jsonschema")
    document = json.loads(json.dumps(load_document(path.read_text(encoding="utf-8")), default=str))
    jsonschema.validate(document, mapping_json_schema())


def test_the_json_schema_refuses_what_the_loader_refuses():
    jsonschema = pytest.importorskip("jsonschema")
    schema = mapping_json_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    good = {
        "source": {"system": "hubspot", "object": "contact", "key": "hs_object_id"},
        "target": {"system": "kintone", "object": 7, "key": "hubspot_contact_id"},
        "fields": [
            {
                "source": "email",
                "target": "email",
                "transforms": [
                    "trim",
                    {"map": {"values": {"a": "b"}, "default": None}},
                    {"constant": "x"},
                    {"date": {"tz": "Asia/Tokyo"}},
                    {"split_name": "family"},
                ],
            }
        ],
    }
    jsonschema.validate(good, schema)
    for bad_field in (
        {"source": "email"},
        {"target": "x", "tranforms": []},
        {"target": "x", "transforms": ["nfck"]},
        {"target": "x", "direction": "sideways"},
        {"target": "x", "transforms": [{"map": {}}]},
        {"target": "x", "transforms": [{"trim": None, "upper": None}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, "fields": [bad_field]}, schema)
