"""Fixtures for the mapping tests: target objects described as connectors report them, a checker."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.mapping import check_text
from connectors.base import FieldInfo

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
ENV = {"KINTONE_APP_ID": "7"}

SF_INDUSTRIES = (
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Other",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
)


def _fields(*infos: FieldInfo) -> dict[str, FieldInfo]:
    return {info.name: info for info in infos}


# A Salesforce Lead with the custom fields the shipped mapping writes, as describe() reports it.
LEAD = _fields(
    FieldInfo("HubSpot_Contact_Id__c", "string", unique=True),
    FieldInfo("Email", "email"),
    FieldInfo("LastName", "string", required=True),
    FieldInfo("FirstName", "string"),
    FieldInfo("Company", "string", required=True),
    FieldInfo("Title", "string"),
    FieldInfo("Phone", "phone"),
    FieldInfo("Industry", "enumeration", options=SF_INDUSTRIES),
    FieldInfo("NumberOfEmployees", "number"),
    FieldInfo(
        "LeadSource",
        "enumeration",
        options=("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"),
    ),
    FieldInfo("Rating", "enumeration", options=("Hot", "Warm", "Cold")),
    FieldInfo("Status", "enumeration", options=("Open - Not Contacted", "Working - Contacted")),
    FieldInfo("Description", "text"),
    FieldInfo("Bridge_Score__c", "number"),
    FieldInfo("Bridge_Stage__c", "string"),
    FieldInfo("Bridge_Temperature__c", "string"),
    FieldInfo("Bridge_Handoff_Reason__c", "text"),
)

# The kintone app documented at the top of mappings/hubspot-contact-to-kintone.yaml.
KINTONE_APP = _fields(
    FieldInfo("record_number", "id", unique=True),
    FieldInfo("hubspot_contact_id", "string", unique=True),
    FieldInfo("company", "string", required=True),
    *(FieldInfo(code, "string") for code in ("full_name", "last_name", "first_name", "title", "lead_source")),
    FieldInfo("email", "email"),
    FieldInfo("phone", "phone"),
    FieldInfo(
        "industry",
        "enumeration",
        options=(
            "製造業",
            "情報通信業",
            "卸売業・小売業",
            "金融業・保険業",
            "不動産業",
            "建設業",
            "運輸業",
            "医療・福祉",
            "教育・学習支援業",
            "サービス業",
            "官公庁・団体",
            "その他",
        ),
    ),
    FieldInfo("employees", "number"),
    FieldInfo("score", "number"),
    FieldInfo("stage", "enumeration", options=("認知", "興味", "検討")),
    FieldInfo("temperature", "enumeration", options=("cold", "warm", "hot")),
    FieldInfo("status", "enumeration", options=("未対応", "対応中", "商談化", "対象外", "リサイクル")),
    FieldInfo("handoff_reason", "text"),
    FieldInfo("handoff_at", "datetime"),
)

OBJECTS = {("salesforce", "Lead"): LEAD, ("kintone", "7"): KINTONE_APP}


def describe(system: str, object_name: str):
    return OBJECTS.get((system, object_name))


HEADER = """\
source:
  system: hubspot
  object: contacts
  key: hs_object_id
target:
  system: salesforce
  object: Lead
  key: HubSpot_Contact_Id__c
fields:
"""  # 9 lines: the first field entry starts on line 10


def check(fields_yaml: str, describe=None, header: str = HEADER, env=None):
    """Check a mapping made of HEADER plus `fields_yaml`, as mappings/test.yaml."""
    return check_text(header + fields_yaml, "mappings/test.yaml", ENV if env is None else env, describe)


@pytest.fixture
def messages():
    """The errors of a check as strings, for asserting file:line: where: message."""

    def run(fields_yaml: str, **kwargs) -> list[str]:
        return [str(p) for p in check(fields_yaml, **kwargs).errors]

    return run
