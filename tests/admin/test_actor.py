"""Every state change through /api/admin, /api/leads or /api/outbox is audited with its actor, whose name keeps its
Unicode however a script sends X-Bridge-Actor: raw UTF-8 (over real HTTP), percent-encoded, or RFC 8187."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from bridge.admin.auth import header_text
from connectors.sandbox.server import QuietHandler
from tests.admin.conftest import API_HEADERS, SF_FILE
from tests.conftest import BASE_ENV

LEADS_HEADERS = {"Authorization": f"Bearer {BASE_ENV['BRIDGE_LEADS_TOKEN']}"}
#: POSTs under the audited APIs that change nothing (they only check or preview a text).
READ_ONLY = {"admin_api.check_file", "admin_api.preview_file"}
TANAKA_PERCENT = "%E7%94%B0%E4%B8%AD"  # 田中 in UTF-8, as `curl -H "X-Bridge-Actor: %E7%94%B0%E4%B8%AD"` sends it


def _renamed(mappings) -> str:
    return (mappings / SF_FILE).read_text(encoding="utf-8").replace("target: Title", "target: Title  # 役職")


def _save(client, mappings, actor):
    return client.put(f"/api/admin/mappings/{SF_FILE}", json={"text": _renamed(mappings)},
                      headers={**API_HEADERS, "X-Bridge-Actor": actor})


def _refused_save(client, mappings, actor):
    text = _renamed(mappings).replace("[trim, nfkc, lower]", "[trim, nfkc, lowr]")
    return client.put(f"/api/admin/mappings/{SF_FILE}", json={"text": text},
                      headers={**API_HEADERS, "X-Bridge-Actor": actor})


def _restore(client, mappings, actor):
    assert _save(client, mappings, "setup").status_code == 200
    return client.post(f"/api/admin/mappings/{SF_FILE}/versions/1/restore",
                       headers={**API_HEADERS, "X-Bridge-Actor": actor})


def _replay(client, mappings, actor):
    return client.post("/api/outbox/replay", json={"all": True}, headers={**LEADS_HEADERS, "X-Bridge-Actor": actor})


#: endpoint → (a request making that change, the audit action it records)
CHANGES = {
    "admin_api.put_file": (_save, "save"),
    "admin_api.restore_version": (_restore, "restore"),
    "leads_api.replay_outbox": (_replay, "outbox_replay"),
}


def test_the_list_of_changes_covers_every_state_changing_api_route(admin_app):
    changing = {rule.endpoint for rule in admin_app.url_map.iter_rules()
                if rule.endpoint.split(".")[0] in ("admin_api", "leads_api")
                and rule.methods - {"GET", "HEAD", "OPTIONS"}}
    assert changing - READ_ONLY == set(CHANGES)


@pytest.mark.parametrize("endpoint", sorted(CHANGES))
def test_every_change_is_audited_with_the_named_actor(anonymous, mappings, admin_app, endpoint):
    change, action = CHANGES[endpoint]
    assert change(anonymous, mappings, "田中 太郎").status_code == 200
    newest = admin_app.extensions["bridge"].store.admin.audit_entries(1)[0]
    assert (newest["actor"], newest["action"]) == ("api:田中 太郎", action)


def test_a_refused_save_is_audited_with_the_actor_too(anonymous, mappings, admin_app):
    assert _refused_save(anonymous, mappings, TANAKA_PERCENT).status_code == 422
    newest = admin_app.extensions["bridge"].store.admin.audit_entries(1)[0]
    assert (newest["actor"], newest["action"]) == ("api:田中", "save_rejected")


def test_without_a_name_the_actor_is_api(anonymous, mappings, admin_app):
    assert _save(anonymous, mappings, "").status_code == 200
    assert admin_app.extensions["bridge"].store.admin.audit_entries(1)[0]["actor"] == "api"


@pytest.mark.parametrize(("sent", "name"), [
    ("田中", "田中"),                                     # already text (what a test client passes)
    ("田中".encode().decode("latin-1"), "田中"),           # raw UTF-8 bytes as WSGI hands them over
    (TANAKA_PERCENT, "田中"),                             # percent-encoded UTF-8
    ("UTF-8''" + TANAKA_PERCENT, "田中"),                 # RFC 8187 ext-value
    ("utf-8'ja'" + TANAKA_PERCENT, "田中"),               # with a language tag
    ("iso-8859-1''M%FCller", "Müller"),
    ("Müller".encode("latin-1").decode("latin-1"), "Müller"),  # latin-1 bytes that are not UTF-8
    ("100%", "100%"),                                     # a stray % is not an encoding
    ("%FF%FE", "%FF%FE"),                                 # nor is percent-encoding that is not UTF-8
    ("ｻﾄｳ\u3000花子", "サトウ 花子"),                       # NFKC: half-width kana, ideographic space
])
def test_header_text_recovers_what_the_sender_wrote(sent, name):
    assert header_text(sent) == name


@pytest.mark.parametrize(("sent", "actor"), [
    ("%E7%94%B0%0A%E4%B8%AD", "api:田中"),            # an encoded newline cannot forge a line
    ("UTF-8''%1B%5B31m%E7%94%B0%E4%B8%AD", "api:31m田中"),  # nor an escape sequence colour the log
    ("\u202e田中", "api:田中"),                        # nor a right-to-left override reverse it
    ("%00%07", "api"),
])
def test_control_characters_are_stripped_after_decoding(anonymous, mappings, admin_app, sent, actor):
    assert _save(anonymous, mappings, sent).status_code == 200
    assert admin_app.extensions["bridge"].store.admin.audit_entries(1)[0]["actor"] == actor


@pytest.fixture
def served(admin_app) -> Iterator[str]:
    """The app behind werkzeug's real HTTP server on loopback: header bytes take the WSGI latin-1 route."""
    server = make_server("127.0.0.1", 0, admin_app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _put_over_http(address: str, text: str, actor: bytes) -> int:
    connection = http.client.HTTPConnection(address, timeout=10)
    body = json.dumps({"text": text}).encode()
    try:
        connection.putrequest("PUT", f"/api/admin/mappings/{SF_FILE}")
        for name, value in {**API_HEADERS, "Content-Type": "application/json",
                            "Content-Length": str(len(body))}.items():
            connection.putheader(name, value)
        connection.putheader("X-Bridge-Actor", actor)  # bytes: sent exactly as given
        connection.endheaders(body)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize("actor", ["田中 太郎".encode(), b"%E7%94%B0%E4%B8%AD %E5%A4%AA%E9%83%8E",
                                   b"UTF-8''%E7%94%B0%E4%B8%AD%20%E5%A4%AA%E9%83%8E"])
def test_a_unicode_actor_survives_a_real_http_request(served, mappings, admin_app, actor):
    assert _put_over_http(served, _renamed(mappings), actor) == 200
    assert admin_app.extensions["bridge"].store.admin.audit_entries(1)[0]["actor"] == "api:田中 太郎"
