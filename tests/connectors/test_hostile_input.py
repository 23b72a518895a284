"""Crafted input at the layer where it used to break: JSON decoding, times, HubSpot, Salesforce and kintone parsing.

Each case here once raised something other than WebhookInvalid/WebhookUnauthorized, which became a 500.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bridge.kernel.errors import WebhookInvalid, WebhookUnauthorized
from connectors.base import (
    LATEST_EPOCH_MS,
    MAX_JSON_DEPTH,
    WebhookRequest,
    event_time,
    from_epoch_ms,
    parse_event_time,
    parse_json,
    shown,
)
from connectors.hubspot import HubSpotConnector, sign_v3
from connectors.kintone import KintoneConnector
from connectors.salesforce import SalesforceConnector
from tests.conftest import HUBSPOT_SECRET, KINTONE_TOKEN, SF_ORG, SF_TOKEN
from tests.helpers import hubspot_event, kintone_notification, outbound_message

NOW = datetime(2026, 11, 21, 9, tzinfo=UTC)


def field_of(error: pytest.ExceptionInfo) -> str:
    return error.value.field


# --- JSON ---------------------------------------------------------------------------------------------------------

def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_nesting_up_to_the_limit_is_read():
    assert parse_json(nested(MAX_JSON_DEPTH))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 100_000])
def test_deeper_nesting_is_refused_not_a_recursion_error(depth):
    with pytest.raises(WebhookInvalid, match=f"deeper than {MAX_JSON_DEPTH}"):
        parse_json(nested(depth))


def test_deep_nesting_names_where_it_goes_too_deep():
    value: object = 1
    for _ in range(MAX_JSON_DEPTH):
        value = {"p": value}
    with pytest.raises(WebhookInvalid) as error:
        parse_json(json.dumps([{"properties": value}]).encode())
    assert field_of(error).startswith("[0].properties.p.p")


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
def test_nan_infinity_and_numbers_beyond_a_double_are_refused(token):
    with pytest.raises(WebhookInvalid, match="number|NaN|Infinity"):
        parse_json(b'{"occurredAt": ' + token + b"}")


def test_an_integer_past_the_digit_limit_is_refused():
    with pytest.raises(WebhookInvalid, match="more than .* digits"):
        parse_json(b"[" + b"9" * 5000 + b"]")


def test_a_large_integer_within_the_limit_is_read():
    assert parse_json(b"[" + b"9" * 4000 + b"]") == [int("9" * 4000)]


def test_a_utf8_byte_order_mark_is_ignored():
    assert parse_json(b"\xef\xbb\xbf" + json.dumps({"a": "山田"}, ensure_ascii=False).encode()) == {"a": "山田"}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "shift_jis"])
def test_json_in_another_encoding_is_refused(encoding):
    with pytest.raises(WebhookInvalid, match="not UTF-8"):
        parse_json(json.dumps({"a": "山田"}, ensure_ascii=False).encode(encoding))


@pytest.mark.parametrize(
    "body, field",
    [
        (b'[{"propertyValue": "a\\ud83d"}]', "[0].propertyValue"),
        (b'{"record": {"memo": {"value": ["x", "\\udc00"]}}}', "record.memo.value[1]"),
        (b'{"k\\ud83d": 1}', "k\\ud83d"),
        (b'"\\ud83d"', "body"),
    ],
)
def test_a_lone_surrogate_is_refused_naming_the_field(body, field):
    with pytest.raises(WebhookInvalid, match="lone UTF-16 surrogate") as error:
        parse_json(body)
    assert field_of(error) == field
    field_of(error).encode("utf-8")  # the name itself can be stored and logged


def test_surrogate_pairs_are_whole_characters_and_read():
    assert parse_json(b'{"t": "\\ud83d\\ude00"}') == {"t": "😀"}


def test_shown_escapes_control_characters_and_surrogates_but_keeps_japanese():
    assert shown("会社名\n\x00\ud83d") == "会社名\\u000a\\u0000\\ud83d"


# --- times --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "0001-01-01T00:00:00+09:00",  # no UTF form at all: OverflowError when converting
    "9999-12-31T23:59:59-09:00",
    "1969-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
])
def test_times_outside_1970_to_9999_are_refused_naming_the_field(text):
    with pytest.raises(WebhookInvalid, match="out of range") as error:
        parse_event_time(text, "record.updated")
    assert field_of(error) == "record.updated"


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "", "12345678901234567890"])
def test_text_that_is_no_time_is_refused(text):
    with pytest.raises(WebhookInvalid, match="ISO 8601"):
        parse_event_time(text, "f")


def test_the_edges_of_the_range_are_accepted_in_utc():
    assert parse_event_time("1970-01-01T09:00:00+09:00", "f") == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_event_time("9999-12-31T23:59:59Z", "f").year == 9999
    assert event_time(datetime(2026, 11, 21, 18, tzinfo=timezone(timedelta(hours=9))), "f").hour == 9
    assert event_time(datetime(2026, 11, 21, 9), "f") == NOW  # naive: taken as UTC


@pytest.mark.parametrize("ms", [-1, LATEST_EPOCH_MS + 1, 10**18])
def test_epoch_milliseconds_out_of_range_are_refused(ms):
    with pytest.raises(WebhookInvalid, match="out of range"):
        from_epoch_ms(ms, "[0].occurredAt")


def test_epoch_milliseconds_are_exact():
    assert from_epoch_ms(LATEST_EPOCH_MS) == datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    assert from_epoch_ms(1764000000123).microsecond == 123000


# --- HubSpot ------------------------------------------------------------------------------------------------------

def hubspot_request(body: bytes, timestamp: str | None = None) -> WebhookRequest:
    ts = timestamp if timestamp is not None else str(int(NOW.timestamp() * 1000))
    url = "https://bridge.example.com/webhooks/hubspot"
    headers = {"X-HubSpot-Signature-v3": sign_v3(HUBSPOT_SECRET, "POST", url, body, ts),
               "X-HubSpot-Request-Timestamp": ts}
    return WebhookRequest("POST", url, headers, {}, body)


@pytest.mark.parametrize("timestamp", ["²", "1" * 4301, "１７６４００００００", "-1", "1e12", " 1764000000000", ""])
def test_a_timestamp_that_is_not_ascii_epoch_milliseconds_is_401(timestamp):
    with pytest.raises(WebhookUnauthorized):
        HubSpotConnector(HUBSPOT_SECRET).verify_webhook(hubspot_request(b"[]", timestamp), NOW)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"occurredAt": 10**18}, "[0].occurredAt"),
        ({"occurredAt": 253402300800000}, "[0].occurredAt"),  # 10000-01-01
        ({"occurredAt": -1}, "[0].occurredAt"),
        ({"occurredAt": 1.5e300}, "[0].occurredAt"),
        ({"eventId": 2**63}, "[0].eventId"),
        ({"objectId": -5}, "[0].objectId"),
        ({"portalId": "many"}, "[0].portalId"),
        ({"subscriptionType": ["contact.creation"]}, "[0].subscriptionType"),
        ({"attemptNumber": 10**30}, "[0].attemptNumber"),
    ],
)
def test_hubspot_values_out_of_range_or_of_the_wrong_type_are_400_naming_the_field(change, field):
    body = json.dumps([hubspot_event(1, **change)]).encode()
    with pytest.raises(WebhookInvalid) as error:
        HubSpotConnector(HUBSPOT_SECRET).parse_webhook(hubspot_request(body), NOW)
    assert field_of(error) == field


def test_the_latest_hubspot_time_is_accepted():
    body = json.dumps([hubspot_event(1, occurredAt=LATEST_EPOCH_MS)]).encode()
    [event] = HubSpotConnector(HUBSPOT_SECRET).parse_webhook(hubspot_request(body), NOW)
    assert event.occurred_at.year == 9999


# --- Salesforce ---------------------------------------------------------------------------------------------------

def salesforce_parse(body: bytes):
    connector = SalesforceConnector(webhook_token=SF_TOKEN, org_id=SF_ORG)
    return connector.parse_webhook(WebhookRequest("POST", "https://h/webhooks/salesforce", {}, {}, body), NOW)


DOCTYPE = b'<!DOCTYPE soapenv:Envelope [<!ENTITY a "b">]>'


def before_envelope(prefix: bytes) -> bytes:
    return outbound_message().replace(b"<soapenv:Envelope", prefix + b"<soapenv:Envelope", 1)


@pytest.mark.parametrize(
    "body",
    [
        before_envelope(b"<!--" + b"x" * 5000 + b"-->" + DOCTYPE),
        before_envelope(DOCTYPE).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
        before_envelope(b" " * 5000 + b'<!DOCTYPE soapenv:Envelope SYSTEM "http://attacker.example/x.dtd">'),
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><x>&b;</x>',
    ],
    ids=["after-a-long-comment", "utf-16", "external-dtd-after-4k", "entity-expansion"],
)
def test_a_dtd_anywhere_in_any_encoding_is_refused(body):
    with pytest.raises(WebhookInvalid, match="DOCTYPE"):
        salesforce_parse(body)


@pytest.mark.parametrize("encoding", [b"x-unknown", b"shift_jis", b"utf-7", b"rot13", b"hex"])
def test_an_xml_encoding_that_cannot_be_read_is_400(encoding):
    with pytest.raises(WebhookInvalid, match="encoding") as error:
        salesforce_parse(outbound_message().replace(b'encoding="UTF-8"', b'encoding="' + encoding + b'"'))
    assert field_of(error) == "body"


@pytest.mark.parametrize("stamp", [b"0001-01-01T00:00:00+01:00", b"9999-12-31T23:59:59-01:00", b"next tuesday"])
def test_a_salesforce_timestamp_out_of_range_is_400_naming_it(stamp):
    with pytest.raises(WebhookInvalid) as error:
        salesforce_parse(outbound_message().replace(b"2026-11-20T01:02:03.000Z", stamp))
    assert field_of(error) == "Notification[0].sObject.SystemModstamp"


# --- kintone ------------------------------------------------------------------------------------------------------

def kintone_parse(payload: dict):
    connector = KintoneConnector(webhook_token=KINTONE_TOKEN, app_ids=frozenset({"7"}))
    body = json.dumps(payload, ensure_ascii=False).encode()
    return connector.parse_webhook(WebhookRequest("POST", "https://h/webhooks/kintone", {}, {}, body), NOW)


def with_updated(value) -> dict:
    note = kintone_notification()
    note["record"]["更新日時"] = {"type": "UPDATED_TIME", "value": value}
    return note


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+09:00", "soon", 12, ["x"]])
def test_a_kintone_update_time_that_is_no_time_in_range_is_400_naming_the_field(value):
    with pytest.raises(WebhookInvalid) as error:
        kintone_parse(with_updated(value))
    assert field_of(error) == "record.更新日時.value"


def test_a_kintone_deletion_time_out_of_range_is_400_naming_it():
    note = {"id": "n1", "type": "DELETE_RECORD", "app": {"id": "7"}, "recordId": "2",
            "deletedAt": "0001-01-01T00:00:00+09:00"}
    with pytest.raises(WebhookInvalid) as error:
        kintone_parse(note)
    assert field_of(error) == "deletedAt"


@pytest.mark.parametrize("record_id", ["²", "٣", "2\n", "", "1" * 21])
def test_a_kintone_record_id_of_other_than_ascii_digits_is_400(record_id):
    note = kintone_notification()
    note["record"]["$id"]["value"] = record_id
    with pytest.raises(WebhookInvalid) as error:
        kintone_parse(note)
    assert field_of(error) == "record.$id"
