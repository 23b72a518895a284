"""Every kind of mapping mistake is reported with file, line and entry, and all of them at once."""

from __future__ import annotations

import dataclasses

import pytest

from tests.mapping.conftest import HEADER, LEAD, check

F = "mappings/test.yaml"


def lead_with(**changes):
    """The described Lead with some fields changed, e.g. lead_with(Rating={"required": True})."""
    return only({n: dataclasses.replace(i, **changes.get(n, {})) for n, i in LEAD.items()})


def only(described_fields: dict):
    """A describe() that knows the Salesforce Lead only (the HubSpot side stays undescribed)."""
    return lambda system, name: described_fields if (system, name) == ("salesforce", "Lead") else None


def test_unknown_transform_names_file_line_and_field(messages):
    errors = messages("""\
  - source: email
    target: Email
    transforms: [trim, nfck]
""")
    assert errors == [
        f"{F}:12: fields[0] (Email).transforms[1]: unknown transform 'nfck' (did you mean "
        "'nfkc'?); "
        "known: trim, upper, lower, nfkc, map, number, boolean, date, datetime, split_name, "
        "join_name, "
        "constant, template"
    ]


@pytest.mark.parametrize(
    ("transform", "where", "message"),
    [
        ("{trim: {x: 1}}", "transforms[0].trim", "trim takes no arguments"),
        ("{map: {default: x}}", "transforms[0].map.values", "missing; this key is required"),
        ("{map: {values: {}}}", "transforms[0].map.values", "at least one pair"),
        ("{map: {values: {a: [1, 2]}}}", "transforms[0].map.values.a", "must be a single value"),
        (
            "{map: {values: {a: b}, match: fuzzy}}",
            "transforms[0].map.match",
            "Must be one of: exact, contains",
        ),
        ("{date: {tz: Asia/Tokio}}", "transforms[0].date.tz", "unknown time zone 'Asia/Tokio'"),
        ("{date: {format: YYYY/MM/DD}}", "transforms[0].date.format", "has no % codes"),
        ("{split_name: middle}", "transforms[0].split_name.part", "Must be one of: family, given"),
        ("{template: '{lastname'}", "transforms[0].template.text", "unmatched '{'"),
        ("{template: '{}'}", "transforms[0].template.text", "empty {}"),
        (
            "{join_name: {family: lastname}}",
            "transforms[0].join_name.given",
            "missing; this key is required",
        ),
        ("{constant: Web, trim: null}", "transforms[0]", "write a transform as a name"),
    ],
)
def test_bad_transform_arguments(messages, transform, where, message):
    errors = messages(f"""\
  - source: email
    target: Email
    transforms:
      - {transform}
""")
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{F}:13: fields[0] (Email).{where}: ") and message in errors[0], errors


def test_two_fields_writing_one_target(messages):
    errors = messages("""\
  - source: email
    target: Email
  - source: work_email
    target: Email
""")
    assert errors == [
        f"{F}:13: fields[1] (Email).target: Email is already written by fields[0] (Email); "
        "two entries cannot write one target field"
    ]


def test_a_field_may_not_write_the_upsert_key(messages):
    errors = messages("""\
  - source: hs_object_id
    target: HubSpot_Contact_Id__c
""")
    assert errors == [
        f"{F}:11: fields[0] (HubSpot_Contact_Id__c).target: HubSpot_Contact_Id__c is the upsert "
        "key: "
        "it is filled from the other side's key automatically; remove this entry"
    ]


def test_value_map_without_default_on_a_required_field(messages):
    errors = messages("""\
  - source: bridge.temperature
    target: Rating
    required: true
    transforms:
      - map:
          values: {hot: Hot, warm: Warm}
""")
    assert errors == [
        f"{F}:14: fields[0] (Rating).transforms[0]: value map has no `default`: a value not listed "
        "would reach Rating, a required field, unchanged; add `default:`"
    ]


def test_value_map_without_default_on_a_picklist_the_target_requires(messages):
    errors = messages(
        """\
  - source: bridge.temperature
    target: Rating
    default: Cold
    transforms:
      - map:
          values: {hot: Hot}
  - source: bridge.stage
    target: Status
    required: true
    transforms:
      - map: {values: {consideration: Working - Contacted}}
""",
        describe=lead_with(Status={"required": True}, LastName={"required": False}, Company={"required": False}),
    )
    # Rating is not required and has a field default: fine. Status is required, its map has none.
    assert errors == [
        f"{F}:20: fields[1] (Status).transforms[0]: value map has no `default`: a value not listed "
        "would reach Status, a required field, unchanged; add `default:`"
    ]


def test_type_mismatch_inside_a_chain(messages):
    errors = messages("""\
  - source: bridge.score
    target: Bridge_Score__c
    transforms: [number, upper]
""")
    assert errors == [
        f"{F}:12: fields[0] (Bridge_Score__c).transforms[1]: upper cannot take a number (from "
        "number); "
        "it takes a date, a date-time, text"
    ]


def test_type_mismatch_against_the_described_target(messages):
    errors = messages(
        """\
  - source: bridge.score
    target: Title
    transforms: [number]
  - source: createdate
    target: NumberOfEmployees
    transforms: [date]
  - source: bridge.score
    target: Description
  - target: Bridge_Score__c
    default: unknown
""",
        describe=only({k: v for k, v in LEAD.items() if not v.required}),
    )
    assert errors == [
        f"{F}:10: fields[0] (Title): number gives a number, but Title in salesforce Lead is a string field",
        f"{F}:13: fields[1] (NumberOfEmployees): date gives a date, but NumberOfEmployees in "
        "salesforce Lead "
        "is a number field",
        f"{F}:16: fields[2] (Description): source bridge.score gives a number, but Description in "
        "salesforce Lead "
        "is a text field",
        f"{F}:19: fields[3] (Bridge_Score__c).default: default 'unknown' is text, but "
        "Bridge_Score__c in "
        "salesforce Lead is a number field",
    ]


def test_upsert_key_must_be_unique_on_the_target(messages):
    errors = messages(
        """\
  - source: email
    target: Email
""",
        describe=lead_with(
            HubSpot_Contact_Id__c={"unique": False},
            LastName={"required": False},
            Company={"required": False},
        ),
    )
    assert errors == [
        f"{F}:8: target.key: HubSpot_Contact_Id__c is not unique in salesforce Lead, so it cannot "
        "be "
        "the upsert key; use an external-id / unique field (重複禁止のフィールド)"
    ]


def test_required_target_fields_need_an_entry_and_a_default(messages):
    errors = messages(
        """\
  - source: lastname
    target: LastName
  - source: email
    target: Email
""",
        describe=lead_with(),
    )
    assert errors == [
        f"{F}:9: fields: Company is required by salesforce Lead but no entry writes it; add one "
        "(a constant or a `default:` works when there is no source)",
        f"{F}:10: fields[0] (LastName): LastName is required by salesforce Lead: add `default:` "
        "for empty values, "
        "or `required: true` to hold back records without it",
    ]


def test_unknown_target_field_and_picklist_values_against_the_description(messages):
    errors = messages(
        """\
  - source: lastname
    target: LastName
    default: (不明)
  - source: company
    target: Company
    required: true
  - source: email
    target: Emial
  - source: bridge.temperature
    target: Rating
    transforms:
      - map: {values: {hot: Hott, warm: Warm}, default: Cold}
  - target: LeadSource
    transforms: [{constant: HubSpot}]
""",
        describe=lead_with(),
    )
    assert errors == [
        f"{F}:17: fields[2] (Emial).target: salesforce Lead has no field Emial (did you mean 'Email'?)",
        f"{F}:21: fields[3] (Rating).transforms[0]: 'Hott' is not a value of picklist Rating in "
        "salesforce Lead "
        "(allowed: Hot, Warm, Cold) (did you mean 'Hot'?)",
        f"{F}:23: fields[4] (LeadSource).transforms[0]: 'HubSpot' is not a value of picklist "
        "LeadSource in "
        "salesforce Lead (allowed: Web, Phone Inquiry, Partner Referral, Purchased List, Other)",
    ]


def test_free_text_into_a_picklist_is_a_warning():
    loaded = check(
        """\
  - source: lastname
    target: LastName
    default: (不明)
  - source: company
    target: Company
    default: (不明)
  - source: industry
    target: Industry
""",
        describe=lead_with(),
    )
    assert loaded.errors == []
    assert [str(w) for w in loaded.warnings] == [
        f"{F}:16: fields[2] (Industry): Industry in salesforce Lead is a picklist but this entry "
        "sends values as "
        "they come; a value outside its options will be refused (add a `map` to be safe)"
    ]


def test_source_fields_checked_when_the_source_is_described(messages):
    def describe(system, name):
        if system == "hubspot":
            return {"hs_object_id": LEAD["HubSpot_Contact_Id__c"], "email": LEAD["Email"]}
        return None

    errors = messages(
        """\
  - source: emial
    target: Email
  - source: bridge.score
    target: Bridge_Score__c
""",
        describe=describe,
    )
    assert errors == [f"{F}:10: fields[0] (Email).source: hubspot contacts has no field emial (did you mean 'email'?)"]


def test_direction_and_conflict_rules(messages):
    errors = messages("""\
  - source: hs_lead_status
    target: Status
    direction: both
  - source: email
    target: Email
    conflict: source_wins
  - target: OwnerId
    direction: to_source
    default: x
  - source: phone
    target: Phone
    reverse: [trim]
  - source: mobilephone
    target: MobilePhone
    direction: sideways
""")
    assert errors == [
        f"{F}:12: fields[0] (Status).direction: a two-way field needs `conflict:` (source_wins, "
        "target_wins, "
        "target_unless_blank or newest_wins)",
        f"{F}:15: fields[1] (Email).conflict: `conflict` only applies to direction both, not to_target",
        f"{F}:17: fields[2] (OwnerId).direction: direction to_source writes back to the source, so it needs `source:`",
        f"{F}:21: fields[3] (Phone).reverse: `reverse` only applies to direction both; for to_source use `transforms`",
        f"{F}:24: fields[4] (MobilePhone).direction: Must be one of: to_target, to_source, both, none.",
    ]


def test_generators_and_fields_without_a_source(messages):
    errors = messages("""\
  - source: firstname
    target: FirstName
    transforms: [trim, {constant: x}]
  - source: company
    target: Company
    transforms: [{constant: ACME}]
  - target: Title
    transforms: [trim]
""")
    assert errors == [
        f"{F}:12: fields[0] (FirstName).transforms[1]: constant makes a new value and discards "
        "what comes before it; "
        "put it first",
        f"{F}:13: fields[1] (Company).source: constant makes the value itself, so `source: "
        "company` is never read; "
        "remove it",
        f"{F}:16: fields[2] (Title): no `source`: start `transforms` with constant, template or "
        "join_name, or give "
        "`default`",
    ]


def test_unknown_bridge_values(messages):
    errors = messages("""\
  - source: bridge.scor
    target: Bridge_Score__c
  - target: Description
    transforms: [{template: "{bridge.reason} ({bridge.temp})"}]
""")
    known = "known: bridge.score, bridge.stage, bridge.temperature, bridge.reason, bridge.handoff_at"
    assert errors == [
        f"{F}:10: fields[0] (Bridge_Score__c).source: bridge.scor is not a value the service "
        "provides "
        f"(did you mean 'bridge.score'?); {known}",
        f"{F}:13: fields[1] (Description).transforms[0]: bridge.temp is not a value the service "
        "provides "
        f"(did you mean 'bridge.stage'?); {known}",
    ]


def test_unknown_and_missing_keys(messages):
    errors = messages("""\
  - source: email
    tagret: Email
    tranforms: [trim]
""")
    assert errors == [
        f"{F}:10: fields[0] (email).target: missing; this key is required",
        f"{F}:11: fields[0] (email).tagret: unknown key (did you mean 'target'?); known keys: "
        "source, target, "
        "direction, conflict, transforms, reverse, required, default",
        f"{F}:12: fields[0] (email).tranforms: unknown key (did you mean 'transforms'?); known "
        "keys: source, target, "
        "direction, conflict, transforms, reverse, required, default",
    ]


def test_route_level_problems(messages):
    errors = messages(
        "",
        header="""\
enabled: maybe
source:
  system: HubSpot
  object: contact
target:
  system: salesforce
  object: [Lead]
  key: HubSpot_Contact_Id__c
fields: []
""",
    )
    assert errors == [
        f"{F}:1: enabled: must be true or false",
        f"{F}:2: source.key: missing; this key is required",
        f"{F}:3: source.system: must be a system name in lower case, e.g. hubspot, salesforce, kintone",
        f"{F}:7: target.object: must be an object name, an app id, or ${{SETTING}}",
        f"{F}:9: fields: needs at least one entry",
    ]


def test_yaml_syntax_error_has_a_line(messages):
    errors = messages("""\
  - source: email
    target: [Email
  - source: phone
""")
    assert len(errors) == 1 and errors[0].startswith(f"{F}:12: YAML: ")


def test_duplicate_yaml_key_has_a_line(messages):
    errors = messages("""\
  - source: email
    target: Email
    target: Phone
""")
    assert len(errors) == 1 and errors[0].startswith(f"{F}:12: YAML: ") and "duplicate key" in errors[0]


def test_not_a_mapping(messages):
    assert messages("", header="- just\n- a list\n") == [
        f"{F}:1: (file): a mapping file is a set of `key: value` lines with source, target and fields"
    ]


KINTONE_HEADER = """\
enabled: {enabled}
source:
  system: hubspot
  object: contact
  key: hs_object_id
target:
  system: kintone
  object: {app}
  key: hubspot_contact_id
fields:
  - source: email
    target: email
"""


def test_unset_app_id_setting_blocks_an_enabled_route_only():
    enabled = check("", header=KINTONE_HEADER.format(enabled="true", app="${KINTONE_APP_ID}"), env={})
    assert [str(e) for e in enabled.errors] == [
        f"{F}:8: target.object: setting KINTONE_APP_ID is not set; set it, or set `enabled: false` on this route"
    ]
    disabled = check("", header=KINTONE_HEADER.format(enabled="false", app="${KINTONE_APP_ID}"), env={})
    assert disabled.errors == [] and len(disabled.warnings) == 1
    assert disabled.route is not None and not disabled.route.enabled


def test_app_id_from_settings_or_a_number():
    assert check("", header=KINTONE_HEADER.format(enabled="true", app="${KINTONE_APP_ID}")).route.target.object == "7"
    assert check("", header=KINTONE_HEADER.format(enabled="true", app="12")).route.target.object == "12"
    bad = check("", header=KINTONE_HEADER.format(enabled="true", app="leads"))
    assert [str(e) for e in bad.errors] == [f"{F}:8: target.object: a kintone app id is a number, not 'leads'"]


def test_all_errors_are_listed_at_once_schema_and_semantic_together(messages):
    errors = messages("""\
  - source: email
    target: Email
    transforms: [trim, nfck]
  - source: work_email
    target: Email
  - source: bridge.score
    target: Title
    transforms: [number, lower]
  - source: phone
    target: Phone
    direction: both
  - source: mobilephone
    target: Phone
  - target: Company
    transforms: [{date: {tz: Mars/Olympus}}]
""")
    assert [e.split(": ")[0] for e in errors] == [
        f"{F}:12",
        f"{F}:17",
        f"{F}:20",
        f"{F}:22",
        f"{F}:24",
    ]
    assert "unknown transform 'nfck'" in errors[0]
    assert "lower cannot take a number" in errors[1]
    assert "needs `conflict:`" in errors[2]
    assert "Phone is already written by fields[3] (Phone)" in errors[3]
    assert "unknown time zone 'Mars/Olympus'" in errors[4]


def test_header_is_nine_lines():
    assert HEADER.count("\n") == 9
