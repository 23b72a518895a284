"""HubSpot signature v3 and the /webhooks/hubspot endpoint."""

import json
from datetime import UTC, datetime

import pytest

from bridge.kernel.errors import WebhookUnauthorized
from connectors.base import WebhookRequest
from connectors.hubspot import HubSpotConnector, sign_v3, signed_uri
from tests.conftest import HUBSPOT_SECRET
from tests.helpers import hubspot_event, post_hubspot

# Published in HubSpot's Python SDK tests (tests/spec/utils/test_signature.py).
SDK_URL = "https://www.example.com/webhook_uri"
SDK_BODY = b"{'example_field':'example_value'}"
SDK_TS = "1693657560000"
SDK_SIGNATURE = "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="
SDK_NOW = datetime.fromtimestamp(1693657560, tz=UTC)


def sdk_request(method="POST", url=SDK_URL, body=SDK_BODY, ts=SDK_TS, signature=SDK_SIGNATURE):
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": ts}
    return WebhookRequest(method=method, url=url, headers=headers, query={}, body=body)


def test_published_v3_vector_signs_and_verifies():
    assert sign_v3(HUBSPOT_SECRET, "POST", SDK_URL, SDK_BODY, SDK_TS) == SDK_SIGNATURE
    HubSpotConnector(HUBSPOT_SECRET).verify_webhook(sdk_request(), SDK_NOW)


@pytest.mark.parametrize(
    "change",
    [
        {"body": b"{'example_field':'example_valuE'}"},
        {"url": "https://www.example.com/webhook_uri2"},
        {"method": "PUT"},
        {"ts": "1693657560001"},
    ],
    ids=["body", "url", "method", "timestamp"],
)
def test_any_changed_part_fails(change):
    with pytest.raises(WebhookUnauthorized, match="signature does not match"):
        HubSpotConnector(HUBSPOT_SECRET).verify_webhook(sdk_request(**change), SDK_NOW)


@pytest.mark.parametrize("offset_s, word", [(301, "old"), (-301, "in the future")])
def test_timestamps_beyond_five_minutes_fail(offset_s, word):
    now = datetime.fromtimestamp(1693657560 + offset_s, tz=UTC)
    with pytest.raises(WebhookUnauthorized, match=word):
        HubSpotConnector(HUBSPOT_SECRET).verify_webhook(sdk_request(), now)


def test_timestamp_within_five_minutes_passes():
    HubSpotConnector(HUBSPOT_SECRET).verify_webhook(sdk_request(), datetime.fromtimestamp(1693657560 + 299, tz=UTC))


def test_only_listed_escapes_are_decoded():
    assert signed_uri("https://h/p%3Fa%2Fb?q=%3A%40%20%2B") == "https://h/p?a/b?q=:@%20%2B"


def test_missing_signature_is_unauthorized():
    request = WebhookRequest("POST", SDK_URL, {}, {}, SDK_BODY)
    with pytest.raises(WebhookUnauthorized, match="only signature v3"):
        HubSpotConnector(HUBSPOT_SECRET).verify_webhook(request, SDK_NOW)


def test_signed_delivery_is_stored_one_row_per_event(client, store):
    response = post_hubspot(client, [hubspot_event(1), hubspot_event(2, object_id=456)])
    assert response.status_code == 200
    assert response.json == {"received": 2, "new": 2}
    assert store.inbox.counts()["pending"] == 2


def test_same_delivery_twice_makes_one_row_per_event(client, store):
    events = [hubspot_event(1), hubspot_event(2)]
    assert post_hubspot(client, events).json["new"] == 2
    again = post_hubspot(client, events)
    assert again.status_code == 200 and again.json == {"received": 2, "new": 0}
    assert store.inbox.counts()["pending"] == 2


def test_same_event_id_with_another_property_is_a_distinct_event(client, store):
    events = [hubspot_event(1), hubspot_event(1, propertyName="firstname", propertyValue="太郎")]
    assert post_hubspot(client, events).json["new"] == 2


def test_hundred_events_make_hundred_rows_and_101_are_rejected(client, store):
    assert post_hubspot(client, [hubspot_event(i) for i in range(100)]).json["new"] == 100
    too_many = post_hubspot(client, [hubspot_event(i) for i in range(1000, 1101)])
    assert too_many.status_code == 400
    assert "101 events" in too_many.json["error"]
    assert store.inbox.counts()["pending"] == 100
    assert len(store.ingest.rejected()) == 1


def test_forged_delivery_is_401_and_not_stored(client, store):
    response = post_hubspot(client, [hubspot_event(1)], secret="not-the-secret-at-all")
    assert response.status_code == 401
    assert "signature" in response.json["error"]
    assert store.inbox.counts()["pending"] == 0 and store.ingest.rejected() == []


def test_url_behind_a_proxy_verifies_with_configured_public_url(make_settings):
    from bridge.app import create_app

    public = "https://bridge.example.co.jp/hooks/hubspot"
    proxied = create_app(make_settings(HUBSPOT_WEBHOOK_URL=public)).test_client()
    signed_for_public = post_hubspot(proxied, [hubspot_event(1)], url=public)
    assert signed_for_public.status_code == 200


def test_url_behind_a_proxy_fails_without_configured_public_url(client):
    response = post_hubspot(client, [hubspot_event(1)], url="https://bridge.example.co.jp/hooks/hubspot")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body, field",
    [
        (b"not json", "body"),
        (b"{}", "body"),
        (b"[]", "body"),
        (b'[{"eventId": 1}]', "[0].subscriptionId"),
        (b'[{"eventId":"x","subscriptionId":1,"portalId":1,"occurredAt":1,"subscriptionType":"contact.creation",'
         b'"objectId":1}]', "[0].eventId"),
    ],
)
def test_malformed_bodies_are_400_naming_the_field_and_kept(client, store, body, field):
    response = post_hubspot(client, None, body=body)
    assert response.status_code == 400
    assert response.json["error"].startswith(field)
    kept = store.ingest.rejected()
    assert len(kept) == 1 and kept[0]["body"] == body and kept[0]["source"] == "hubspot"


def test_unconfigured_secret_answers_503(make_settings):
    from bridge.app import create_app

    client = create_app(make_settings(HUBSPOT_CLIENT_SECRET=None)).test_client()
    response = post_hubspot(client, [hubspot_event(1)])
    assert response.status_code == 503
    assert "HUBSPOT_CLIENT_SECRET" in response.json["error"]


def test_body_over_one_mebibyte_is_413(client):
    response = client.post("/webhooks/hubspot", data=b"[" + b" " * (1024 * 1024) + b"]",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json["error"]


# --- ids are ASCII digits; eventId is always there -------------------------------------------------------------------

@pytest.mark.parametrize(
    "change, field",
    [
        ({"objectId": "١٢٣"}, "[0].objectId"),  # Arabic-Indic digits: int() reads them as 123
        ({"objectId": "１２３"}, "[0].objectId"),  # full-width digits
        ({"objectId": " 123"}, "[0].objectId"),
        ({"objectId": "1_23"}, "[0].objectId"),
        ({"objectId": "+123"}, "[0].objectId"),
        ({"objectId": 123.5}, "[0].objectId"),  # marshmallow's Integer made it 123
        ({"eventId": "٧"}, "[0].eventId"),
        ({"subscriptionId": "١٢٣٤٥"}, "[0].subscriptionId"),
        ({"portalId": "６２５１５"}, "[0].portalId"),
        ({"occurredAt": "١٧٦٤٠٠٠٠٠٠٠٠١"}, "[0].occurredAt"),
        ({"attemptNumber": "٠"}, "[0].attemptNumber"),
    ],
)
def test_ids_that_are_not_ascii_digits_are_400_naming_the_field_and_kept(client, store, change, field):
    body = json.dumps([hubspot_event(1, **change)], ensure_ascii=False).encode()
    response = post_hubspot(client, None, body=body)
    assert response.status_code == 400, response.json
    assert response.json["error"].startswith(field) and "ASCII digits" in response.json["error"]
    assert store.inbox.counts()["pending"] == 0
    assert [r["body"] for r in store.ingest.rejected()] == [body]


def test_ids_sent_as_ascii_digit_strings_are_still_read(client, store):
    response = post_hubspot(client, [hubspot_event(1, objectId="123", eventId="1")])
    assert response.status_code == 200 and response.json == {"received": 1, "new": 1}
    assert inbox_keys(store) == {("12345:1:123:1764000000001:email", "contact:123")}


def inbox_keys(store) -> set[tuple[str, str]]:
    return set(store.conn.db.execute("SELECT dedupe_key, record_key FROM inbox WHERE source = 'hubspot'"))


@pytest.mark.parametrize("event_id", ["missing", None])
def test_an_event_without_an_event_id_is_400_not_keyed_like_event_id_0(client, store, event_id):
    event = hubspot_event(1)
    if event_id == "missing":
        del event["eventId"]
    else:
        event["eventId"] = event_id
    response = post_hubspot(client, [event])
    assert response.status_code == 400 and response.json["error"].startswith("[0].eventId")
    assert inbox_keys(store) == set() and len(store.ingest.rejected()) == 1


def test_event_id_0_keeps_the_dedupe_key_stored_before(client, store):
    # Keys stored by earlier versions spell 0 as "": a retry after an upgrade must still be a duplicate.
    event = hubspot_event(0)
    assert post_hubspot(client, [event]).json == {"received": 1, "new": 1}
    assert inbox_keys(store) == {("12345::123:1764000000000:email", "contact:123")}
    assert post_hubspot(client, [event]).json == {"received": 1, "new": 0}
