"""The admin pages: inline problems that keep the admin's text, preview, save, history, restore, languages."""

from __future__ import annotations

import html
from urllib.parse import urlencode

from bridge.app import MAX_BODY_BYTES
from tests.admin.conftest import SF_FILE, csrf_from
from tests.admin.test_api import BROKEN, RENAMED, _edited
from tests.helpers import open_chunked

EDIT = f"/admin/mappings/{SF_FILE}"


def _submit(admin, csrf, text, action, **extra):
    return admin.post(EDIT, data={"csrf_token": csrf, "text": text, "action": action, **extra})


def test_the_list_shows_files_status_and_links(admin):
    page = admin.get("/admin/mappings").text
    for name in (SF_FILE, "hubspot-contact-to-kintone.yaml", "handoff.yaml"):
        assert f'href="/admin/mappings/{name}"' in page and f'href="/admin/mappings/{name}/history"' in page
    assert "Handoff rules" in page and "OK" in page


def test_the_edit_page_shows_the_file_in_a_textarea(admin, mappings):
    page = admin.get(EDIT).text
    text = (mappings / SF_FILE).read_text(encoding="utf-8")
    assert f'spellcheck="false" wrap="off">\n{text}</textarea>' in html.unescape(page)
    assert 'name="csrf_token"' in page and 'name="base"' in page


def test_a_broken_save_shows_the_problem_inline_keeps_the_text_and_saves_nothing(admin, csrf, mappings, audit):
    before = (mappings / SF_FILE).read_text(encoding="utf-8")
    broken = _edited(mappings, BROKEN)
    response = _submit(admin, csrf, broken.replace("\n", "\r\n"), "save")  # as browsers send textareas
    assert response.status_code == 422
    page = html.unescape(response.text)
    assert "1 problem(s) and was NOT saved" in page
    assert f"{SF_FILE}:41" in page and "fields[0] (Email).transforms[2]" in page
    assert "unknown transform 'lowr' (did you mean 'lower'?)" in page
    assert "line 41" in page and "transforms: [trim, nfkc, lowr]" in page  # the line itself is quoted
    assert "[trim, nfkc, lowr]   # 全角英数を半角に" in page  # the textarea keeps what the admin typed
    assert (mappings / SF_FILE).read_text(encoding="utf-8") == before
    assert audit()[-1] == ("admin", "save_rejected", SF_FILE)


def test_check_says_ok_or_lists_problems_without_saving(admin, csrf, mappings):
    assert "No problems found" in _submit(admin, csrf, _edited(mappings, RENAMED), "check").text
    response = _submit(admin, csrf, _edited(mappings, BROKEN), "check")
    assert response.status_code == 422 and f"{SF_FILE}:41" in response.text
    assert admin.get(f"{EDIT}/history").text.count('class="version"') == 0


def test_preview_shows_the_payload_field_by_field(admin, csrf, mappings):
    response = _submit(admin, csrf, _edited(mappings, RENAMED), "preview")
    page = html.unescape(response.text)
    assert response.status_code == 200 and "Built-in sample record" in page
    assert "HubSpot_Contact_Id__c" in page and "upsert key" in page
    assert "<code>trim</code> → <code>\"Taro.Yamada@Example.co.jp\"</code>" in page
    assert "<code>lower</code> → <code>\"taro.yamada@example.co.jp\"</code>" in page
    assert "Payload sent to salesforce Lead" in page and '"Phone": "03-1234-5678"' in page
    assert (mappings / SF_FILE).read_text(encoding="utf-8") != _edited(mappings, RENAMED)  # nothing saved


def test_preview_with_a_pasted_record_and_a_bad_one(admin, csrf, mappings):
    text = (mappings / SF_FILE).read_text(encoding="utf-8")
    page = html.unescape(_submit(admin, csrf, text, "preview", record='{"hs_object_id": "9", "email": "A@B.JP"}').text)
    assert "Your record" in page and '"Email": "a@b.jp"' in page
    response = _submit(admin, csrf, text, "preview", record="{oops")
    assert response.status_code == 422 and "The record is not usable: not JSON" in response.text
    assert "{oops" in response.text  # the pasted text stays in its box


def test_save_then_history_then_restore(admin, csrf, mappings, audit):
    original = (mappings / SF_FILE).read_text(encoding="utf-8")
    base = csrf_from(admin.get(EDIT).text) and admin.get(EDIT).text.split('name="base" value="')[1].split('"')[0]
    response = _submit(admin, csrf, _edited(mappings, RENAMED), "save", base=base, note="役職のメモ")
    assert response.status_code == 303 and response.headers["Location"] == EDIT
    assert "Saved as version 2. It is active now." in admin.get(EDIT).text
    history = html.unescape(admin.get(f"{EDIT}/history").text)
    assert "Version 2" in history and "active" in history and "役職のメモ" in history
    assert '<span class="add">+    target: Title  # 役職</span>' in history
    assert "Version 1" in history and "(file)" in history
    response = admin.post(f"{EDIT}/versions/1/restore", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert "Version 1 restored as version 3" in admin.get(f"{EDIT}/history").text
    assert (mappings / SF_FILE).read_text(encoding="utf-8") == original
    assert audit()[-2:] == [("admin", "save", SF_FILE), ("admin", "restore", SF_FILE)]
    version = admin.get(f"{EDIT}/versions/2")
    assert version.status_code == 200 and "# 役職" in version.text
    assert admin.get(f"{EDIT}/versions/99").status_code == 404


def test_a_save_over_someone_elses_is_a_conflict_that_keeps_my_text(admin, csrf, mappings):
    base = admin.get(EDIT).text.split('name="base" value="')[1].split('"')[0]
    (mappings / SF_FILE).write_text(_edited(mappings, ("[trim, nfkc, lower]", "[trim, lower]")), encoding="utf-8")
    mine = _edited(mappings, RENAMED)
    response = _submit(admin, csrf, mine, "save", base=base)
    assert response.status_code == 409 and "Someone saved this file after you opened it" in response.text
    new_base = response.text.split('name="base" value="')[1].split('"')[0]
    assert _submit(admin, csrf, mine, "save", base=new_base).status_code == 303
    history = html.unescape(admin.get(f"{EDIT}/history").text)
    assert "Version 2" in history and "Version 1" in history and "the file before the first save" in history


def test_the_handoff_rules_are_edited_and_previewed(admin, csrf, mappings):
    url = "/admin/mappings/handoff.yaml"
    text = (mappings / "handoff.yaml").read_text(encoding="utf-8")
    page = html.unescape(admin.post(url, data={"csrf_token": csrf, "text": text, "action": "preview"}).text)
    assert "handed off (料金ページ閲覧 (pricing intent))" in page and "<strong>115</strong>" in page
    assert "<strong>85</strong>" in page and "excluded: " in page
    broken = text.replace("points: 20\n    group: role", "points: twenty\n    group: role")
    response = admin.post(url, data={"csrf_token": csrf, "text": broken, "action": "save"})
    assert response.status_code == 422 and "handoff.yaml:" in response.text
    assert (mappings / "handoff.yaml").read_text(encoding="utf-8") == text


def test_the_audit_page_lists_admin_actions(admin, csrf, mappings):
    _submit(admin, csrf, _edited(mappings, BROKEN), "save")
    page = admin.get("/admin/audit").text
    assert "logged in" in page and "save refused (problems)" in page and SF_FILE in page and "JST" in page


def test_japanese_labels_when_the_browser_prefers_japanese(admin, csrf, mappings):
    ja = {"Accept-Language": "ja-JP,ja;q=0.9,en-US;q=0.8"}
    listing = admin.get("/admin/mappings", headers=ja).text
    assert '<html lang="ja">' in listing and "マッピングファイル" in listing and "引き渡し基準" in listing
    edit = admin.get(EDIT, headers=ja).text
    assert "確認" in edit and "プレビュー" in edit and "保存" in edit
    response = admin.post(EDIT, headers=ja, data={"csrf_token": csrf, "text": _edited(mappings, BROKEN),
                                                  "action": "save"})
    assert "1 件の問題があるため保存していません" in response.text
    assert "操作ログ" in admin.get("/admin/audit", headers=ja).text


def test_english_otherwise(admin):
    for header in ({}, {"Accept-Language": "en-US,en;q=0.9,ja;q=0.5"}, {"Accept-Language": "fr"}):
        page = admin.get("/admin/mappings", headers=header).text
        assert '<html lang="en">' in page and "Mapping files" in page


def test_pages_are_not_cached_and_cannot_be_framed(admin):
    response = admin.get("/admin/mappings")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_unknown_files_get_a_page_saying_what_to_do(admin):
    response = admin.get("/admin/mappings/nope.yaml")
    assert response.status_code == 404 and "Pick one from the list" in response.text


def _chunked_save(admin, csrf, mappings, size: int):
    """A save form of exactly `size` bytes, sent chunked: the text ends in a comment, so cut anywhere in the padding
    it is still a valid file."""
    text = _edited(mappings, RENAMED) + "\n# "
    head = urlencode({"csrf_token": csrf, "action": "save", "text": text}).encode()
    response = open_chunked(admin, "POST", EDIT, head + b"x" * (size - len(head)),
                            {"Content-Type": "application/x-www-form-urlencoded"})
    return response, text + "x" * (size - len(head))


def test_a_chunked_form_over_the_limit_is_413_not_cut_and_saved(admin, csrf, mappings):
    before = (mappings / SF_FILE).read_text(encoding="utf-8")
    response, _ = _chunked_save(admin, csrf, mappings, MAX_BODY_BYTES + 1)
    assert response.status_code == 413
    assert (mappings / SF_FILE).read_text(encoding="utf-8") == before


def test_a_chunked_form_within_the_limit_is_read_whole(admin, csrf, mappings):
    response, text = _chunked_save(admin, csrf, mappings, 200_000)
    assert response.status_code == 303
    assert (mappings / SF_FILE).read_text(encoding="utf-8") == text
