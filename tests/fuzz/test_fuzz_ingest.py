"""Fuzzing the four intake endpoints with authentic, mutated deliveries: never a 5xx, and every 2xx is stored.

Each example is signed or tokened correctly, so it passes authentication and reaches parsing and the store.
Bounded for CI (a few seconds); a longer run: BRIDGE_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/fuzz
"""

from __future__ import annotations

import json
import os
import shutil
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bridge.app import create_app
from bridge.config import load_settings
from bridge.web.activities import ActivitySource
from connectors.base import WebhookRequest
from connectors.hubspot import sign_v3
from tests.conftest import BASE_ENV, KINTONE_TOKEN, SF_ORG, SF_TOKEN, SHIPPED_MAPPINGS, Clock
from tests.fuzz.strategies import Raw, hostile_values, mangled_body, mutated_tree, to_json
from tests.helpers import hubspot_event, kintone_notification

EXAMPLES = int(os.environ.get("BRIDGE_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a shared CI machine; each example commits with fsync
    database=None if "BRIDGE_FUZZ_EXAMPLES" not in os.environ else settings.default.database,
    print_blob=True,  # a failure prints the @reproduce_failure line that replays it
    # The autouse no-network fixture is function-scoped and harmless across examples; some bodies are big.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example],
)
ACTIVITIES_TOKEN = BASE_ENV["BRIDGE_ACTIVITIES_TOKEN"]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    for shipped in SHIPPED_MAPPINGS.glob("*.yaml"):
        shutil.copy(shipped, folder / shipped.name)
    env = {**BASE_ENV, "BRIDGE_DB": str(folder / "bridge.db"), "BRIDGE_MAPPINGS": str(folder)}
    return create_app(load_settings(env, dotenv=None), clock=Clock())


def check(app, source: str, response, request: WebhookRequest, parse) -> None:
    """No 5xx and no traceback; a 2xx has every event it acknowledges in the inbox; a 400/403 kept the body."""
    text = response.get_data(as_text=True)
    event(f"answered {response.status_code}")  # the mix shows with --hypothesis-show-statistics
    assert response.status_code < 500, text
    assert "Traceback" not in text
    store = app.extensions["bridge"].store
    if response.status_code < 300:
        events = parse(request, app.extensions["bridge"].clock())
        keys = [e.dedupe_key for e in events]
        stored = {row[0] for row in store.conn.db.execute(
            f"SELECT dedupe_key FROM inbox WHERE source = ? AND dedupe_key IN ({', '.join('?' * len(keys))})",  # noqa: S608
            [source, *keys])}
        assert stored == set(keys), f"acknowledged but not stored: {set(keys) - stored}"
        if response.is_json:
            assert response.json.get("received", response.json.get("accepted")) == len(events)
    elif response.status_code in (400, 403):
        assert store.ingest.rejected(limit=1)[0]["body"] == request.body
    else:
        assert response.status_code in (401, 413), text


# --- HubSpot (signature v3) ------------------------------------------------------------------------------------------

@st.composite
def hubspot_deliveries(draw) -> bytes:
    first = draw(st.integers(min_value=0, max_value=2**40))
    events = [hubspot_event(first + n, object_id=draw(st.integers(min_value=1, max_value=10**6)))
              for n in range(draw(st.integers(min_value=1, max_value=3)))]
    return draw(mangled_body(to_json(draw(mutated_tree(events)))))


@FUZZ
@given(body=hubspot_deliveries())
def test_hubspot(app, body):
    client = app.test_client()
    connector = app.extensions["bridge"].connectors["hubspot"]
    timestamp = str(int(app.extensions["bridge"].clock().timestamp() * 1000))
    url = "http://localhost/webhooks/hubspot"
    headers = {"X-HubSpot-Signature-v3": sign_v3(connector.client_secret, "POST", url, body, timestamp),
               "X-HubSpot-Request-Timestamp": timestamp, "Content-Type": "application/json"}
    response = client.post("/webhooks/hubspot", data=body, headers=headers)
    check(app, "hubspot", response, WebhookRequest("POST", url, headers, {}, body), connector.parse_webhook)


# --- /api/activities (bearer) ----------------------------------------------------------------------------------------

@st.composite
def activity_deliveries(draw) -> bytes:
    items = [{"id": draw(st.text(min_size=1, max_size=12)), "email": "hanako.sato@example.co.jp",
              "type": "pricing_page_visit", "occurred_at": "2026-11-21T10:00:00+09:00",
              "properties": {"title": "料金", "path": "/pricing"}}
             for _ in range(draw(st.integers(min_value=1, max_value=3)))]
    return draw(mangled_body(to_json(draw(mutated_tree(items)))))


@FUZZ
@given(body=activity_deliveries())
def test_activities(app, body):
    headers = {"Authorization": f"Bearer {ACTIVITIES_TOKEN}", "Content-Type": "application/json"}
    response = app.test_client().post("/api/activities", data=body, headers=headers)
    source = ActivitySource(ACTIVITIES_TOKEN)
    check(app, "activities", response, WebhookRequest("POST", "/api/activities", headers, {}, body),
          source.parse_webhook)


# --- kintone (?token=) -----------------------------------------------------------------------------------------------

@st.composite
def kintone_deliveries(draw) -> bytes:
    note = kintone_notification(notification_id=draw(st.uuids()).hex, record_id=str(draw(st.integers(1, 10**6))))
    return draw(mangled_body(to_json(draw(mutated_tree(note)))))


@FUZZ
@given(body=kintone_deliveries())
def test_kintone(app, body):
    response = app.test_client().post(f"/webhooks/kintone?token={KINTONE_TOKEN}", data=body,
                                      headers={"Content-Type": "application/json"})
    connector = app.extensions["bridge"].connectors["kintone"]
    check(app, "kintone", response, WebhookRequest("POST", "/webhooks/kintone", {}, {}, body), connector.parse_webhook)


# --- Salesforce outbound messages (SOAP, ?token=) ---------------------------------------------------------------------

SF_FIELDS = {"notification": "04l5g000001AAAA", "org": SF_ORG, "type": "sf:Lead", "lead": "00Q5g000000AAAA",
             "email": "taro@example.co.jp", "modstamp": "2026-11-20T01:02:03.000Z"}


def xml_text(value) -> str:
    if isinstance(value, Raw):
        return value.text
    return escape(value if isinstance(value, str) else json.dumps(value))


def soap_message(fields: dict, notifications: int, extra: str, declaration: str) -> bytes:
    notes = "".join(
        f"<Notification><Id>{fields['notification']}{n or ''}</Id>"
        f'<sObject xsi:type="{fields["type"]}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{fields['lead']}</sf:Id><sf:Email>{fields['email']}</sf:Email>{extra}"
        f"<sf:SystemModstamp>{fields['modstamp']}</sf:SystemModstamp></sObject></Notification>"
        for n in range(notifications)
    )
    return (
        f'{declaration}<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{fields['org']}</OrganizationId><ActionId>04k5g000000AAAA</ActionId>{notes}"
        "</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode("utf-8", "surrogatepass")  # a lone surrogate becomes bytes that are not UTF-8, as it would on the wire


@st.composite
def salesforce_deliveries(draw) -> bytes:
    fields = dict(SF_FIELDS, notification=f"04l{draw(st.integers(0, 10**11)):012d}")
    for name in draw(st.lists(st.sampled_from(sorted(SF_FIELDS)), max_size=3, unique=True)):
        fields[name] = xml_text(draw(hostile_values))
    extra = draw(st.sampled_from([
        "", "<sf:Description xsi:nil=\"true\"/>", "<sf:Deep>" * 3000 + "</sf:Deep>" * 3000,
        "<![CDATA[<x>]]>", "<!-- c -->", "&amp;&lt;", "&undefined;", "<sf:X>&#0;</sf:X>", "<sf:X>&#xD83D;</sf:X>",
    ]))
    declaration = draw(st.sampled_from([
        '<?xml version="1.0" encoding="UTF-8"?>', "", '<?xml version="1.0" encoding="x-unknown"?>',
        '<?xml version="1.0" encoding="shift_jis"?>', '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>',
        '<?xml version="1.0"?><!--' + "x" * 5000 + '--><!DOCTYPE soapenv:Envelope SYSTEM "http://x.invalid/">',
    ]))
    notifications = draw(st.sampled_from([1, 1, 1, 2, 0, 101]))
    return draw(mangled_body(soap_message(fields, notifications, extra, declaration)))


@FUZZ
@given(body=salesforce_deliveries())
def test_salesforce(app, body):
    response = app.test_client().post(f"/webhooks/salesforce?token={SF_TOKEN}", data=body,
                                      headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
    connector = app.extensions["bridge"].connectors["salesforce"]
    check(app, "salesforce", response, WebhookRequest("POST", "/webhooks/salesforce", {}, {}, body),
          connector.parse_webhook)
