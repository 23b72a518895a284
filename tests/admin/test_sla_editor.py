"""sla.yaml in the admin editor, like the other rules files: checked with file:line problems (a broken text is not
saved), versioned, and previewed as each policy's deadlines and reminders for sample handoff times, with the closed
days of the year. The tests' clock: Saturday 2026-11-21 18:00 JST (Monday the 23rd is a national holiday)."""

from __future__ import annotations

import html

from tests.admin.conftest import API_HEADERS

EDIT = "/admin/mappings/sla.yaml"
SHIPPED_TOUCH = "first_touch: 3 business days"
BROKEN_TOUCH = "first_touch: 3 weeks"  # line 33 of the shipped file


def _submit(admin, csrf, text, action, **extra):
    return admin.post(EDIT, data={"csrf_token": csrf, "text": text, "action": action, **extra},
                      headers={"Accept-Language": extra.pop("language", "en")})


def _text(mappings, old=None, new=None) -> str:
    text = (mappings / "sla.yaml").read_text(encoding="utf-8")
    if old is not None:
        assert old in text
        text = text.replace(old, new)
    return text


def test_the_list_shows_sla_yaml_as_its_own_kind(admin):
    page = admin.get("/admin/mappings", headers={"Accept-Language": "en"}).text
    assert 'href="/admin/mappings/sla.yaml"' in page and "SLA policies and business calendar" in page
    assert "営業フィードバックのルール" in admin.get("/admin/mappings", headers={"Accept-Language": "ja"}).text


def test_a_broken_save_shows_file_and_line_and_saves_nothing(admin, csrf, mappings, audit):
    before = _text(mappings)
    response = _submit(admin, csrf, _text(mappings, SHIPPED_TOUCH, BROKEN_TOUCH).replace("\n", "\r\n"), "save")
    assert response.status_code == 422
    page = html.unescape(response.text)
    assert "1 problem(s) and was NOT saved" in page
    assert "sla.yaml:33" in page and "policies[1].first_touch" in page
    assert 'write a duration like "3 business days"' in page
    assert BROKEN_TOUCH in page  # the admin's text is kept in the editor
    assert _text(mappings) == before
    assert audit()[-1] == ("admin", "save_rejected", "sla.yaml")
    assert admin.get(f"{EDIT}/history").text.count('class="version"') == 0


def test_the_api_refuses_a_broken_text_with_every_problem(anonymous, mappings):
    before = _text(mappings)
    broken = _text(mappings, SHIPPED_TOUCH, BROKEN_TOUCH).replace("to: [owner]}", "to: [boss]}")
    response = anonymous.put("/api/admin/mappings/sla.yaml", headers=API_HEADERS, json={"text": broken})
    assert response.status_code == 422
    shown = [p["display"] for p in response.json["problems"]]
    assert any(p.startswith("sla.yaml:33") and "policies[1].first_touch" in p for p in shown)
    assert any(p.startswith("sla.yaml:") and "policies[0].reminders[0].to" in p for p in shown)
    assert _text(mappings) == before


def test_a_valid_save_is_versioned_and_takes_effect(admin, admin_app, csrf, mappings, audit):
    changed = _text(mappings, "first_touch: 3 business hours", "first_touch: 2 business hours")
    response = _submit(admin, csrf, changed, "save", note="ホットは2営業時間")
    assert response.status_code == 303
    assert _text(mappings) == changed
    versions = admin_app.extensions["bridge"].store.admin.mapping_versions("sla.yaml")
    assert [(v["version"], v["author"]) for v in versions] == [(2, "admin"), (1, "(file)")]  # the shipped text kept
    assert "+    first_touch: 2 business hours" in versions[0]["diff"] and versions[0]["note"] == "ホットは2営業時間"
    assert audit()[-1] == ("admin", "save", "sla.yaml")
    services = admin_app.extensions["bridge"]
    services.mappings.refresh()
    assert str(services.mappings.sla.policies[0].first_touch) == "2 営業時間 / 2 business hours"
    restored = admin.post(f"{EDIT}/versions/1/restore", data={"csrf_token": csrf})
    assert restored.status_code == 303 and "first_touch: 3 business hours" in _text(mappings)


def test_the_preview_shows_deadlines_reminders_and_closed_days(admin, csrf, mappings):
    response = _submit(admin, csrf, _text(mappings), "preview")
    assert response.status_code == 200
    page = html.unescape(response.text)
    assert "Handed off now: 2026-11-21 (Sat) 18:00 JST" in page
    assert "Outside business hours: the clock starts at 2026-11-24 (Tue) 09:00 JST." in page  # the 23rd: a holiday
    assert "2026-11-24 (Tue) 12:00 JST" in page  # hot: 3 business hours
    assert "2026-11-26 (Thu) 18:00 JST" in page  # standard: 3 business days
    friday = page[page.index("Handed off on Friday evening: 2026-11-27 (Fri) 17:30 JST"):]
    assert "Business hours: the clock starts at once." in friday
    assert "2026-11-30 (Mon) 11:30 JST" in friday  # hot: half an hour on Friday, two and a half on Monday
    assert "2026-11-30 (Mon) 10:30 JST" in friday  # its reminder, one business hour before
    assert "2026-12-02 (Wed) 17:30 JST" in friday  # standard: three business days on, same time of day
    assert "2026-12-01 (Tue) 17:30 JST" in friday  # its reminder, one business day before
    assert "after 3 unanswered attempts at least 1 business day(s) apart: back to marketing (unreachable)" in page
    closed = page[page.index("Closed days of 2026 (weekends aside)"):]
    for day in ("2026-05-06 (Wed)", "2026-09-22 (Tue)", "2026-08-13 (Thu)", "2026-12-29 (Tue)", "2026-01-02 (Fri)"):
        assert day in closed
    assert "国民の休日" in closed and "お盆" in closed and "2026-11-28" not in closed  # plain weekends are left out


def test_a_preview_of_an_unsaved_text_saves_nothing(admin, csrf, mappings):
    before = _text(mappings)
    edited = _text(mappings, "first_touch: 3 business hours", "first_touch: 2 business hours")
    page = html.unescape(_submit(admin, csrf, edited, "preview").text)
    assert "2026-11-24 (Tue) 11:00 JST" in page  # the hot deadline of the text in the editor
    assert _text(mappings) == before
    assert admin.get(f"{EDIT}/history").text.count('class="version"') == 0


def test_the_preview_in_japanese_with_a_pasted_time(admin, csrf, mappings):
    response = _submit(admin, csrf, _text(mappings), "preview", record='{"handed_off_at": "2026-12-28T17:00"}',
                       language="ja")
    page = html.unescape(response.text)
    assert "貼り付けた日時に引き渡した場合: 2026-12-28 (月) 17:00 JST" in page
    assert "2027-01-06 (水) 17:00 JST" in page  # 3 business days over 年末年始 (12/29–1/3)
    assert "営業時間内のため、すぐに計測を始めます。" in page and "2026 年の休業日 (土日を除く)" in page


def test_a_bad_pasted_time_says_what_to_paste(admin, csrf, mappings):
    response = _submit(admin, csrf, _text(mappings), "preview", record='{"handed_off_at": "next friday"}')
    assert response.status_code == 422
    assert "is not an ISO date-time" in html.unescape(response.text)


def test_the_api_preview(anonymous):
    found = anonymous.post("/api/admin/mappings/sla.yaml/preview", headers=API_HEADERS, json={}).json
    assert found["kind"] == "sla" and found["sample"] and found["zone"] == "Asia/Tokyo"
    now, friday = found["handoffs"]
    assert (now["label"], now["handed_off_at"], now["starts"]) == (
        "sample.handoff_now", "2026-11-21T18:00:00+09:00", "2026-11-24T09:00:00+09:00")
    hot, standard = friday["policies"]
    assert (hot["name"], hot["segment"], hot["value"], hot["deadline"]) == (
        "hot", "temperature", "hot", "2026-11-30T11:30:00+09:00")
    assert hot["reminders"] == [{"before": {"amount": 1, "unit": "hours"}, "to": ["owner"],
                                 "at": "2026-11-30T10:30:00+09:00"}]
    assert (standard["first_touch"], standard["deadline"]) == ({"amount": 3, "unit": "days"},
                                                               "2026-12-02T17:30:00+09:00")
    days = {d["date"]: d["reason"] for d in found["closed_days"]["days"]}
    assert found["closed_days"]["year"] == 2026 and days["2026-09-22"] == "祝日 / national holiday: 国民の休日"
    pasted = anonymous.post("/api/admin/mappings/sla.yaml/preview", headers=API_HEADERS,
                            json={"record": {"handed_off_at": "2026-12-28T08:00:00Z"}}).json
    (only,) = pasted["handoffs"]
    assert not pasted["sample"] and only["handed_off_at"] == "2026-12-28T17:00:00+09:00"
    bad = anonymous.post("/api/admin/mappings/sla.yaml/preview", headers=API_HEADERS, json={"record": [1]})
    assert bad.status_code == 400 and "handed_off_at" in bad.json["error"]
