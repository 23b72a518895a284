"""The admin JSON API: list, read, check, preview, save (refused when broken), history, restore, audit."""

from __future__ import annotations

import json

import pytest

from bridge.app import MAX_BODY_BYTES
from tests.admin.conftest import API_HEADERS, SF_FILE
from tests.helpers import open_chunked

BROKEN = ("[trim, nfkc, lower]", "[trim, nfkc, lowr]")  # an unknown transform on line 41
RENAMED = ("target: Title", "target: Title  # 役職")


def _edited(mappings, old_new, name=SF_FILE) -> str:
    text = (mappings / name).read_text(encoding="utf-8")
    assert old_new[0] in text
    return text.replace(*old_new)


def _put(client, text, name=SF_FILE, **extra):
    return client.put(f"/api/admin/mappings/{name}", headers=API_HEADERS, json={"text": text, **extra})


def test_list_shows_every_file_with_its_status(anonymous):
    files = anonymous.get("/api/admin/mappings", headers=API_HEADERS).json["files"]
    by_name = {f["file"]: f for f in files}
    assert set(by_name) == {SF_FILE, "hubspot-contact-to-kintone.yaml", "handoff.yaml", "feedback.yaml", "sla.yaml"}
    assert by_name[SF_FILE]["ok"] and by_name[SF_FILE]["enabled"] is True and by_name[SF_FILE]["kind"] == "route"
    assert by_name["hubspot-contact-to-kintone.yaml"]["enabled"] is False
    assert by_name["handoff.yaml"]["kind"] == "handoff" and by_name["handoff.yaml"]["errors"] == []
    assert by_name["feedback.yaml"]["kind"] == "feedback" and by_name["feedback.yaml"]["errors"] == []
    assert by_name["sla.yaml"]["kind"] == "sla" and by_name["sla.yaml"]["errors"] == []


def test_get_returns_the_text_and_its_fingerprint(anonymous, mappings):
    body = anonymous.get(f"/api/admin/mappings/{SF_FILE}", headers=API_HEADERS).json
    assert body["text"] == (mappings / SF_FILE).read_text(encoding="utf-8")
    assert len(body["sha256"]) == 64 and body["version"] is None and body["ok"]


def test_unknown_files_are_404_with_the_known_names(anonymous):
    response = anonymous.get("/api/admin/mappings/..%2Fbridge.db", headers=API_HEADERS)
    assert response.status_code == 404
    response = anonymous.get("/api/admin/mappings/nope.yaml", headers=API_HEADERS)
    assert response.status_code == 404 and SF_FILE in response.json["error"]


def test_a_broken_save_is_refused_with_every_problem_and_the_file_stays(anonymous, mappings, admin_app):
    before = (mappings / SF_FILE).read_text(encoding="utf-8")
    response = _put(anonymous, _edited(mappings, BROKEN))
    assert response.status_code == 422
    assert "not saved" in response.json["error"] and "unchanged" in response.json["error"]
    [problem] = response.json["problems"]
    assert problem["file"] == SF_FILE and problem["line"] == 41
    assert problem["where"] == "fields[0] (Email).transforms[2]" and "unknown transform 'lowr'" in problem["message"]
    assert problem["display"].startswith(f"{SF_FILE}:41: fields[0] (Email).transforms[2]: ")
    assert (mappings / SF_FILE).read_text(encoding="utf-8") == before
    store = admin_app.extensions["bridge"].store
    assert store.admin.mapping_versions(SF_FILE) == []
    assert [(e["actor"], e["action"], e["target"]) for e in store.admin.audit_entries()] == \
        [("api", "save_rejected", SF_FILE)]


def test_a_yaml_syntax_error_is_refused_with_its_line(anonymous, mappings):
    response = _put(anonymous, _edited(mappings, ("key: hs_object_id ", "key: [hs_object_id ")))
    assert response.status_code == 422
    assert response.json["problems"][0]["line"] == 33 and response.json["problems"][0]["where"] == "YAML"


def test_a_good_save_keeps_the_old_text_as_version_1(anonymous, mappings, admin_app):
    original = (mappings / SF_FILE).read_text(encoding="utf-8")
    edited = _edited(mappings, RENAMED)
    response = _put(anonymous, edited, note="役職にコメント")
    assert response.status_code == 200 and response.json["saved"] and response.json["version"] == 2
    assert (mappings / SF_FILE).read_text(encoding="utf-8") == edited
    versions = anonymous.get(f"/api/admin/mappings/{SF_FILE}/versions", headers=API_HEADERS).json["versions"]
    assert [(v["version"], v["author"], v["note"]) for v in versions][0] == (2, "api", "役職にコメント")
    assert versions[1]["version"] == 1 and versions[1]["author"] == "(file)"
    assert "\n-    target: Title\n+    target: Title  # 役職\n" in versions[0]["diff"]
    assert versions[0]["diff"].startswith(f"--- {SF_FILE} (before)\n+++ {SF_FILE} (after)\n@@ -55,7 +55,7 @@")
    v1 = anonymous.get(f"/api/admin/mappings/{SF_FILE}/versions/1", headers=API_HEADERS).json
    assert v1["text"] == original


def test_saving_the_same_text_makes_no_version(anonymous, mappings):
    response = _put(anonymous, (mappings / SF_FILE).read_text(encoding="utf-8"))
    assert response.json == {**response.json, "saved": False, "version": None}


def test_windows_line_ends_are_saved_as_unix_ones(anonymous, mappings):
    edited = _edited(mappings, RENAMED)
    assert _put(anonymous, edited.replace("\n", "\r\n")).status_code == 200
    assert (mappings / SF_FILE).read_bytes() == edited.encode("utf-8")


def test_raw_yaml_bodies_are_accepted_and_bad_bodies_explained(anonymous, mappings):
    url = f"/api/admin/mappings/{SF_FILE}"
    raw = _edited(mappings, RENAMED).encode("utf-8")
    response = anonymous.put(url, headers={**API_HEADERS, "Content-Type": "application/yaml"}, data=raw)
    assert response.status_code == 200 and response.json["saved"]
    for body, kind in ((b"[1]", "application/json"), (b"text", "application/octet-stream"),
                       (b"\xff\xfe", "text/yaml")):
        response = anonymous.put(url, headers={**API_HEADERS, "Content-Type": kind}, data=body)
        assert response.status_code == 400 and response.json["error"]
    assert anonymous.put(url, headers=API_HEADERS, json={"text": 5}).status_code == 400


def test_a_save_based_on_an_old_text_is_a_conflict(anonymous, mappings):
    sha = anonymous.get(f"/api/admin/mappings/{SF_FILE}", headers=API_HEADERS).json["sha256"]
    assert _put(anonymous, _edited(mappings, RENAMED), base_sha256=sha).status_code == 200
    theirs = _edited(mappings, ("[trim, nfkc, lower]", "[trim, lower, nfkc]"))
    response = _put(anonymous, theirs, base_sha256=sha)
    assert response.status_code == 409 and response.json["version"] == 2
    assert "# 役職" in (mappings / SF_FILE).read_text(encoding="utf-8")


def test_history_and_rollback(anonymous, mappings, admin_app):
    v1 = (mappings / SF_FILE).read_text(encoding="utf-8")
    assert _put(anonymous, _edited(mappings, RENAMED)).json["version"] == 2
    response = anonymous.post(f"/api/admin/mappings/{SF_FILE}/versions/1/restore",
                              headers={**API_HEADERS, "X-Bridge-Actor": "Sato 佐藤"})
    assert response.status_code == 200
    assert response.json == {"file": SF_FILE, "restored": 1, "saved": True, "version": 3}
    assert (mappings / SF_FILE).read_text(encoding="utf-8") == v1
    entries = anonymous.get("/api/admin/audit", headers=API_HEADERS).json["entries"]
    assert [(e["actor"], e["action"], e["detail"]) for e in entries[:2]] == [
        ("api:Sato 佐藤", "restore", "version 3 (restored from version 1): 第 1 版を復元 / restored version 1"),
        ("api", "save", "version 2"),
    ]
    missing = anonymous.post(f"/api/admin/mappings/{SF_FILE}/versions/9/restore", headers=API_HEADERS)
    assert missing.status_code == 404


def test_a_version_that_no_longer_passes_is_not_restored(anonymous, mappings, admin_app):
    store = admin_app.extensions["bridge"].store
    store.admin.add_mapping_version(SF_FILE, _edited(mappings, BROKEN), "", "someone", admin_app.extensions[
        "bridge_admin"].clock())
    before = (mappings / SF_FILE).read_text(encoding="utf-8")
    response = anonymous.post(f"/api/admin/mappings/{SF_FILE}/versions/1/restore", headers=API_HEADERS)
    assert response.status_code == 422 and response.json["problems"][0]["line"] == 41
    assert (mappings / SF_FILE).read_text(encoding="utf-8") == before
    assert store.admin.audit_entries()[0]["action"] == "restore_rejected"


def test_check_reports_problems_without_saving(anonymous, mappings):
    url = f"/api/admin/mappings/{SF_FILE}/check"
    broken = anonymous.post(url, headers=API_HEADERS, json={"text": _edited(mappings, BROKEN)}).json
    assert not broken["ok"] and broken["errors"][0]["line"] == 41
    assert anonymous.post(url, headers=API_HEADERS, json={"text": _edited(mappings, RENAMED)}).json["ok"]
    assert anonymous.get(f"/api/admin/mappings/{SF_FILE}/versions", headers=API_HEADERS).json["versions"] == []


def test_preview_of_the_sample_record(anonymous):
    response = anonymous.post(f"/api/admin/mappings/{SF_FILE}/preview", headers=API_HEADERS)
    assert response.status_code == 200 and response.json["sample"] is True
    preview = response.json["preview"]
    payload = preview["payload"]
    assert payload["HubSpot_Contact_Id__c"] == "1001"
    assert payload["Email"] == "taro.yamada@example.co.jp"
    assert payload["Phone"] == "03-1234-5678"
    assert payload["Industry"] == "Technology"
    email = next(row for row in preview["rows"] if row["field"] == "Email")
    assert [step["transform"] for step in email["steps"]] == ["trim", "nfkc", "lower"]
    assert preview["errors"] == []


def test_preview_of_unsaved_text_and_a_pasted_record(anonymous, mappings):
    text = _edited(mappings, ("[trim, nfkc, lower]", "[trim, nfkc, upper]"))
    record = {"id": "77", "properties": {"email": "ｈａｎａｋｏ@example.jp", "lastname": "", "company": "㈱サンプル"}}
    response = anonymous.post(f"/api/admin/mappings/{SF_FILE}/preview", headers=API_HEADERS,
                              json={"text": text, "record": record})
    payload = response.json["preview"]["payload"]
    assert response.json["sample"] is False
    assert payload["Email"] == "HANAKO@EXAMPLE.JP" and payload["HubSpot_Contact_Id__c"] == "77"
    assert payload["LastName"] == "(不明)"  # the default, as Salesforce requires a last name


def test_preview_refuses_broken_text_and_bad_records(anonymous, mappings):
    url = f"/api/admin/mappings/{SF_FILE}/preview"
    broken = anonymous.post(url, headers=API_HEADERS, json={"text": _edited(mappings, BROKEN)})
    assert broken.status_code == 422 and broken.json["problems"][0]["line"] == 41
    bad = anonymous.post(url, headers=API_HEADERS, json={"record": ["not", "an", "object"]})
    assert bad.status_code == 400 and "JSON object" in bad.json["error"]


def test_preview_of_the_handoff_rules_scores_the_sample_leads(anonymous):
    response = anonymous.post("/api/admin/mappings/handoff.yaml/preview", headers=API_HEADERS)
    leads = {lead["label"]: lead["decision"] for lead in response.json["leads"]}
    assert leads["sample.worked"]["score"] == 115 and leads["sample.worked"]["qualifies"]
    assert leads["sample.no_pricing"]["score"] == 85 and not leads["sample.no_pricing"]["qualifies"]
    assert leads["sample.free_mail"]["excluded"] and not leads["sample.free_mail"]["qualifies"]


def test_preview_of_the_handoff_rules_with_a_pasted_lead(anonymous):
    lead = {"lead": {"jobtitle": "Director", "email": "a@b.example"},
            "activities": [{"type": "seminar_attended", "days_ago": 1}, {"type": "seminar_attended",
                                                                         "occurred_at": "2026-01-01T00:00:00"}]}
    response = anonymous.post("/api/admin/mappings/handoff.yaml/preview", headers=API_HEADERS, json={"record": lead})
    [result] = response.json["leads"]
    assert result["decision"]["score"] == 20 + 80 and result["decision"]["qualifies"]
    bad = {"lead": {}, "activities": [{"days_ago": 1}]}
    response = anonymous.post("/api/admin/mappings/handoff.yaml/preview", headers=API_HEADERS, json={"record": bad})
    assert response.status_code == 400 and '"type"' in response.json["error"]


def test_handoff_rules_are_saved_with_history_and_refused_when_broken(anonymous, mappings):
    text = (mappings / "handoff.yaml").read_text(encoding="utf-8")
    broken = text.replace("score_at_least: 100", "score_at_least: lots")
    response = _put(anonymous, broken, name="handoff.yaml")
    assert response.status_code == 422 and response.json["problems"][0]["file"] == "handoff.yaml"
    assert (mappings / "handoff.yaml").read_text(encoding="utf-8") == text
    edited = text.replace("score_at_least: 100", "score_at_least: 90")
    assert _put(anonymous, edited, name="handoff.yaml").json["version"] == 2
    assert (mappings / "handoff.yaml").read_text(encoding="utf-8") == edited
    assert [p.name for p in mappings.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_audit_limit_is_checked(anonymous):
    assert anonymous.get("/api/admin/audit?limit=0", headers=API_HEADERS).status_code == 400
    assert anonymous.get("/api/admin/audit?limit=x", headers=API_HEADERS).status_code == 400
    assert anonymous.get("/api/admin/audit?limit=5", headers=API_HEADERS).json == {"entries": []}


def test_a_file_changed_outside_the_admin_pages_is_kept_as_a_version_before_the_next_save(anonymous, mappings):
    assert _put(anonymous, _edited(mappings, RENAMED)).json["version"] == 2
    by_hand = _edited(mappings, ("[trim, nfkc, lower]", "[trim, lower]"))
    (mappings / SF_FILE).write_text(by_hand, encoding="utf-8")  # a deploy or an edit on the server
    assert _put(anonymous, _edited(mappings, ("# 役職", "# 役職 (job title)"))).json["version"] == 4
    versions = anonymous.get(f"/api/admin/mappings/{SF_FILE}/versions", headers=API_HEADERS).json["versions"]
    drift = versions[1]
    assert drift["version"] == 3 and drift["author"] == "(file)" and "outside the admin pages" in drift["note"]
    assert "+    transforms: [trim, lower]" in drift["diff"]
    restored = anonymous.post(f"/api/admin/mappings/{SF_FILE}/versions/3/restore", headers=API_HEADERS)
    assert restored.json["version"] == 5 and (mappings / SF_FILE).read_text(encoding="utf-8") == by_hand


def test_feedback_rules_are_checked_and_previewed_like_the_others(anonymous):
    checked = anonymous.post("/api/admin/mappings/feedback.yaml/check", headers=API_HEADERS,
                             json={"text": "objects: []\nreasons: []\n"}).json
    assert not checked["ok"] and any("objects" in p["where"] for p in checked["errors"])
    preview = anonymous.post("/api/admin/mappings/feedback.yaml/preview", headers=API_HEADERS, json={}).json
    by_label = {c["label"]: c for c in preview["changes"]}
    disqualified = by_label["sample.disqualified"]
    assert [e["kind"] for e in disqualified["events"]] == ["disqualified"]
    assert disqualified["events"][0]["reason"] == "no_budget" and disqualified["hubspot"]["hs_lead_status"] == \
        "UNQUALIFIED"
    recycled = by_label["sample.recycled"]
    assert recycled["hubspot"]["lifecyclestage"] == "lead" and recycled["lifecycle_backward"]
    pasted = anonymous.post("/api/admin/mappings/feedback.yaml/preview", headers=API_HEADERS, json={"record": {
        "system": "salesforce", "object": "Lead", "before": {"Status": "Working - Contacted"},
        "after": {"Status": "Closed - Not Converted", "Disqualification_Reason__c": "社内事情"}}}).json
    (event,) = pasted["changes"][0]["events"]
    assert event["reason"] == "unknown" and event["reason_value"] == "社内事情" and not event["reason_known"]


# --- bodies over 1 MiB are 413 with or without Content-Length ---------------------------------------------------------

def _padded_yaml(mappings, size: int) -> bytes:
    """The file made longer by a trailing comment: cut anywhere in the comment, it is still a valid file."""
    text = _edited(mappings, RENAMED).encode()
    return text + b"\n# " + b"x" * (size - len(text) - 3)


def test_a_chunked_yaml_body_over_the_limit_is_413_not_cut_and_saved(anonymous, mappings, admin_app):
    before = (mappings / SF_FILE).read_text(encoding="utf-8")
    body = _padded_yaml(mappings, MAX_BODY_BYTES + 1)
    response = open_chunked(anonymous, "PUT", f"/api/admin/mappings/{SF_FILE}", body,
                            {**API_HEADERS, "Content-Type": "text/yaml"})
    assert response.status_code == 413
    assert (mappings / SF_FILE).read_text(encoding="utf-8") == before
    assert admin_app.extensions["bridge"].store.admin.mapping_versions(SF_FILE) == []


@pytest.mark.parametrize("method, path", [("PUT", ""), ("POST", "/check"), ("POST", "/preview")])
def test_a_chunked_json_body_over_the_limit_is_413(anonymous, mappings, method, path):
    text = (mappings / SF_FILE).read_text(encoding="utf-8")
    body = json.dumps({"text": text}).encode()
    body = body[:-1] + b" " * (MAX_BODY_BYTES + 1 - len(body)) + b"}"  # JSON allows the spaces
    response = open_chunked(anonymous, method, f"/api/admin/mappings/{SF_FILE}{path}", body,
                            {**API_HEADERS, "Content-Type": "application/json"})
    assert response.status_code == 413 and "larger than" in response.json["error"]


def test_a_chunked_body_within_the_limit_is_read_whole(anonymous, mappings):
    body = json.dumps({"text": _padded_yaml(mappings, MAX_BODY_BYTES - 4096).decode()}, ensure_ascii=False).encode()
    assert MAX_BODY_BYTES - 4096 < len(body) <= MAX_BODY_BYTES
    response = open_chunked(anonymous, "PUT", f"/api/admin/mappings/{SF_FILE}", body,
                            {**API_HEADERS, "Content-Type": "application/json"})
    assert response.status_code == 200 and response.json["saved"] is True
    assert (mappings / SF_FILE).read_bytes() == json.loads(body)["text"].encode()
