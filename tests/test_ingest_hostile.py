"""Crafted deliveries through the endpoints: authentic but malformed is 400 with the body kept, unauthenticated is
401 without a trace, a body over 1 MiB is 413 with or without Content-Length (test client and real servers)."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from bridge.app import MAX_BODY_BYTES
from tests.conftest import BASE_ENV, SHIPPED_MAPPINGS
from tests.helpers import (
    hubspot_event,
    kintone_notification,
    outbound_message,
    post_hubspot,
    post_kintone,
    post_salesforce,
)

ACTIVITIES_TOKEN = BASE_ENV["BRIDGE_ACTIVITIES_TOKEN"]
ACTIVITIES_HEADERS = {"Authorization": f"Bearer {ACTIVITIES_TOKEN}", "Content-Type": "application/json"}


def post_activities(client, body: bytes | list, headers=ACTIVITIES_HEADERS):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/api/activities", data=data, headers=headers)


def activity(**extra) -> dict:
    return {"id": "web-1", "email": "hanako@example.co.jp", "type": "pricing_page_visit",
            "occurred_at": "2026-11-21T10:00:00+09:00", **extra}


def deep(depth: int) -> object:
    value: object = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def deep_json(depth: int) -> str:
    """A JSON list nested `depth` levels (too deep for json.dumps to write)."""
    return "[" * depth + '"bottom"' + "]" * depth


def assert_refused_and_kept(response, store, body: bytes, field: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["error"].startswith(field)
    [kept] = store.ingest.rejected()
    assert kept["body"] == body and kept["reason"] == response.json["error"]
    assert store.inbox.counts()["pending"] == 0


# --- authentic and malformed: 400, the field named, the body kept ----------------------------------------------------

@pytest.mark.parametrize(
    "events, field",
    [
        ([hubspot_event(1, occurredAt=10**18)], "[0].occurredAt:"),
        ([hubspot_event(1, occurredAt=253402300800000)], "[0].occurredAt:"),  # year 10000
        ([hubspot_event(1, propertyValue="NESTED")], "body:"),
        ([hubspot_event(1, propertyValue=deep(200))], "[0].propertyValue[0][0]"),
        ([hubspot_event(1, propertyValue="half \ud83d")], "[0].propertyValue:"),
    ],
    ids=["occurredAt-1e18", "occurredAt-year-10000", "nested-1000", "nested-200", "lone-surrogate"],
)
def test_hubspot_cases_that_were_500_are_400_and_kept(client, store, events, field):
    body = json.dumps(events).replace('"NESTED"', deep_json(1000)).encode()
    assert_refused_and_kept(post_hubspot(client, None, body=body), store, body, field)


@pytest.mark.parametrize(
    "items, field",
    [
        ([activity(occurred_at="0001-01-01T00:00:00+09:00")], "[0].occurred_at:"),
        ([activity(occurred_at="9999-12-31T23:59:59-09:00")], "[0].occurred_at:"),
        ([activity(properties={"title": "NESTED"})], "body:"),
        ([activity(properties={"title": "\ud83d"})], "[0].properties.title:"),
        ([activity(hubspot_id="123\n", email=None)], "[0].hubspot_id:"),
        ([activity(type="pricing_page_visit\n")], "[0].type:"),
        ([activity(id=["a"])], "[0].id:"),
    ],
    ids=["year-1", "year-9999", "nested-1000", "lone-surrogate", "id-newline", "type-newline", "id-list"],
)
def test_activity_cases_are_400_and_kept(client, store, items, field):
    items = [{k: v for k, v in item.items() if v is not None} for item in items]
    body = json.dumps(items).replace('"NESTED"', deep_json(1000)).encode()
    assert_refused_and_kept(post_activities(client, body), store, body, field)


@pytest.mark.parametrize(
    "raw",
    [b"[NaN]", b'[{"x": Infinity}]', b"[1e999]", b"[" + b"1" * 4301 + b"]", b"\xff\xfe[\x00]\x00", b"[" * 5000],
    ids=["nan", "infinity", "beyond-double", "4301-digits", "utf-16", "unclosed-5000"],
)
def test_json_that_is_not_json_or_not_readable_is_400_and_kept(client, store, raw):
    assert_refused_and_kept(post_activities(client, raw), store, raw, "body:")


def test_a_utf8_bom_is_accepted(client, store):
    response = post_activities(client, b"\xef\xbb\xbf" + json.dumps([activity()]).encode())
    assert response.status_code == 202 and store.inbox.counts()["pending"] == 1


@pytest.mark.parametrize("encoding", [b"x-unknown", b"shift_jis"])
def test_salesforce_unknown_xml_encoding_is_400_and_kept(client, store, encoding):
    body = outbound_message().replace(b'encoding="UTF-8"', b'encoding="' + encoding + b'"')
    assert_refused_and_kept(post_salesforce(client, body), store, body, "body:")


def test_salesforce_doctype_after_4k_is_400_and_kept(client, store):
    body = outbound_message().replace(b"<soapenv:Envelope", b"<!--" + b"x" * 5000 + b'--><!DOCTYPE x [<!ENTITY a "b">]>'
                                      + b"<soapenv:Envelope", 1)
    assert_refused_and_kept(post_salesforce(client, body), store, body, "body:")


def test_kintone_update_time_out_of_range_is_400_and_kept(client, store):
    note = kintone_notification()
    note["record"]["更新日時"]["value"] = "9999-12-31T23:59:59-01:00"
    body = json.dumps(note, ensure_ascii=False).encode()
    assert_refused_and_kept(post_kintone(client, body), store, body, "record.更新日時.value:")


def test_an_unexpected_failure_while_parsing_an_authentic_delivery_is_400_and_kept(client, store, monkeypatch, caplog):
    connector = client.application.extensions["bridge"].connectors["kintone"]
    monkeypatch.setattr(connector, "parse_webhook", lambda request, now: {}["a bug"])
    body = json.dumps(kintone_notification()).encode()
    response = post_kintone(client, body)
    assert_refused_and_kept(response, store, body, "body:")
    assert "KeyError" in response.json["error"] and "Traceback" not in response.get_data(as_text=True)
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)  # logged with the exception


# --- unauthenticated: 401, nothing kept, no traceback -----------------------------------------------------------------

@pytest.mark.parametrize("timestamp", ["²", "1" * 4301, "１２３", "nan"])
def test_hubspot_garbage_timestamp_is_401_without_a_trace(client, store, timestamp):
    response = client.post("/webhooks/hubspot", data=b"[]", headers={
        "X-HubSpot-Signature-v3": "x", "X-HubSpot-Request-Timestamp": timestamp})
    assert response.status_code == 401 and "Traceback" not in response.get_data(as_text=True)
    assert store.ingest.rejected() == []


@pytest.mark.parametrize("endpoint", ["hubspot", "salesforce", "kintone", "activities"])
def test_garbage_without_credentials_is_401_and_not_kept(client, store, endpoint):
    garbage = b"[" * 5000 + b'"\\ud83d\xff NaN'  # too deep, a lone surrogate, not UTF-8, not JSON
    path = "/api/activities" if endpoint == "activities" else f"/webhooks/{endpoint}?token=wrong-token-0123456789"
    response = client.post(path, data=garbage, headers={"Content-Type": "application/json",
                                                         "Authorization": "Bearer wrong-token-0123456789"})
    assert response.status_code == 401
    assert store.ingest.rejected() == [] and store.inbox.counts()["pending"] == 0


def test_an_unexpected_failure_while_verifying_is_401_without_a_trace(client, store, monkeypatch):
    connector = client.application.extensions["bridge"].connectors["hubspot"]
    monkeypatch.setattr(connector, "verify_webhook", lambda request, now: 1 / 0)
    response = post_hubspot(client, [hubspot_event(1)])
    assert response.status_code == 401 and "ZeroDivision" not in response.get_data(as_text=True)
    assert store.ingest.rejected() == [] and store.inbox.counts()["pending"] == 0


# --- bodies over the limit: 413 with or without Content-Length --------------------------------------------------------

def padded_activities(size: int) -> bytes:
    """A valid activities body of exactly `size` bytes (JSON allows trailing whitespace)."""
    body = json.dumps([activity()]).encode()
    return body + b" " * (size - len(body))


def post_chunked(client, body: bytes):
    """As a WSGI server hands over a chunked request: no length (chunked wins over the Content-Length the test
    client always adds), and a stream the server ends."""
    return client.post("/api/activities", input_stream=io.BytesIO(body), headers=ACTIVITIES_HEADERS,
                       environ_overrides={"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"})


def test_a_declared_length_over_the_limit_is_413(client, store):
    response = post_activities(client, padded_activities(MAX_BODY_BYTES + 1))
    assert response.status_code == 413 and store.inbox.counts()["pending"] == 0


@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 2 * MAX_BODY_BYTES])
def test_a_chunked_body_over_the_limit_is_413_not_cut_and_processed(client, store, size):
    response = post_chunked(client, padded_activities(size))
    assert response.status_code == 413 and store.inbox.counts()["pending"] == 0


@pytest.mark.parametrize("size", [200, MAX_BODY_BYTES])
def test_a_chunked_body_up_to_the_limit_is_read_whole(client, store, size):
    response = post_chunked(client, padded_activities(size))
    assert response.status_code == 202 and store.inbox.counts()["pending"] == 1


def send_chunked(port: int, body: bytes) -> int:
    """POST `body` with Transfer-Encoding: chunked over loopback; the status (413 may come before all is sent)."""
    def parts() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start:start + 64 * 1024]

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    # The server may answer and close before reading everything: the answer is still there to read.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        conn.request("POST", "/api/activities", body=parts(), headers=ACTIVITIES_HEADERS, encode_chunked=True)
    try:
        return conn.getresponse().status
    finally:
        conn.close()


def test_chunked_bodies_over_a_real_werkzeug_server(app, store):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)  # shutdown() waits a poll
    thread.start()
    try:
        port = server.socket.getsockname()[1]
        assert send_chunked(port, padded_activities(MAX_BODY_BYTES + 1)) == 413
        assert send_chunked(port, padded_activities(4 * MAX_BODY_BYTES)) == 413
        assert store.inbox.counts()["pending"] == 0
        assert send_chunked(port, padded_activities(MAX_BODY_BYTES)) == 202
        assert store.inbox.counts()["pending"] == 1
    finally:
        server.shutdown()
        thread.join(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_chunked_bodies_over_real_gunicorn(tmp_path: Path):
    port = free_port()
    env = {**os.environ, **BASE_ENV, "BRIDGE_DB": str(tmp_path / "bridge.db"), "BRIDGE_MAPPINGS": str(SHIPPED_MAPPINGS),
           "BRIDGE_LOG_LEVEL": "WARNING"}
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:bridge.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--access-logfile", "/dev/null", "wsgi:app"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:  # bounded: wait for the port to accept
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.RequestException:  # not listening yet, or still loading the app (a read timeout)
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        assert send_chunked(port, padded_activities(MAX_BODY_BYTES + 1)) == 413
        assert send_chunked(port, padded_activities(3 * MAX_BODY_BYTES)) == 413
        assert send_chunked(port, padded_activities(MAX_BODY_BYTES)) == 202
        assert send_chunked(port, padded_activities(300)) == 202  # a redelivery: stored once
    finally:
        server.terminate()
        server.wait(timeout=30)
    import sqlite3

    with sqlite3.connect(tmp_path / "bridge.db") as db:
        assert db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0] == 1
