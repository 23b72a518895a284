"""The SLA page /admin/sla: open clocks by owner (due soon, breached), the clocks recently met, the compliance rate
and the median business time to first touch, in Japanese and in English; clocks made through the store and the
worker's timers stage (tests/sla/scenario.py)."""

from __future__ import annotations

import re

import pytest

from bridge.admin.i18n import MESSAGES
from bridge.sla.calendar import UNITS
from bridge.sla.rules import RECIPIENTS, SEGMENTS
from tests.sla.scenario import four_leads, name_owners

JA, EN = {"Accept-Language": "ja"}, {"Accept-Language": "en"}


def section(html: str, anchor: str) -> str:
    """The part of the page under the heading with this id, up to the next heading."""
    start = html.index(f'<h2 id="{anchor}"')
    end = html.find("<h2", start + 1)
    return html[start:end if end != -1 else None]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def leads(admin_app, clock, mappings):
    """The scenario's clocks; ask for it before `admin`, whose session would expire while the clock moves on."""
    name_owners(mappings)
    return four_leads(admin_app, clock)


def test_the_page_lists_due_soon_breached_and_recently_met_by_owner_in_english(leads, admin):
    page = admin.get("/admin/sla", headers=EN)
    assert page.status_code == 200
    html = page.text
    assert '<a href="/admin/sla">SLA</a>' in html  # in the admin nav
    assert "Compliance: 50.0% of clocks first touched in time (1 of 2, last 30 days)." in html
    assert "Median time to first touch: 2:00 business hours (1 first touch(es), last 30 days)." in html

    due = text_of(section(html, "due-soon"))
    assert "Due soon (2)" in due and "by 2026-11-27 (Fri) 10:00 JST" in due
    # grouped by owner: 山田 太郎 (named in sla.yaml) first, the lead without an owner last
    assert due.index("山田 太郎") < due.index("田中 一郎") < due.index("no owner") < due.index("伊藤 四郎")
    assert due.count("2026-11-26 (Thu) 18:00 JST") == 2 and due.count("7:00 business hours") == 2

    breached = text_of(section(html, "breached"))
    assert "Breached (1)" in breached and "鈴木 次郎" in breached
    assert "005B00000000002" in breached  # an owner sla.yaml does not name is shown by id
    assert "2026-11-24 (Tue) 12:00 JST" in breached and "14:00 business hours" in breached
    assert "田中 一郎" not in breached

    met = text_of(section(html, "recently-met"))
    assert "高橋 三郎" in met and "2:00 business hours" in met and "by connected" in met


def test_the_owners_table_puts_breaches_first(leads, admin):
    html = admin.get("/admin/sla", headers=EN).text
    owners = text_of(html[html.index('<table class="owners">'):html.index('<h2 id="due-soon"')])
    rows = [owners.index(name) for name in ("005B00000000002", "山田 太郎", "no owner")]
    assert rows == sorted(rows)
    assert "山田 太郎 005A00000000001 1 1 0 1" in owners  # open, due soon, breached, recently met


def test_the_page_in_japanese(leads, admin):
    html = admin.get("/admin/sla", headers=JA).text
    assert '<html lang="ja">' in html
    assert "遵守率: 50.0% (直近 30 日の 2 件のうち 1 件が期限内に初回連絡)。" in html
    assert "初回連絡までの時間 (中央値): 2:00 営業時間" in html
    due = text_of(section(html, "due-soon"))
    assert "期限間近 (2)" in due and "2026-11-26 (木) 18:00 JST" in due and "担当者未設定" in due
    breached = text_of(section(html, "breached"))
    assert "期限切れ (1)" in breached and "14:00 営業時間" in breached
    assert "終了理由: 通話" in text_of(section(html, "recently-met"))


def test_an_empty_page_says_so(admin):
    html = admin.get("/admin/sla", headers=EN).text
    assert "Compliance: no clock was touched, ended or due in the last 30 days." in html
    assert "Nothing due within the next business day." in html
    assert "No open clock is past its deadline." in html
    assert "No clock ended in time in the last 7 days." in html


def test_without_sla_yaml_the_page_says_the_timers_are_off(admin, mappings):
    (mappings / "sla.yaml").unlink()
    html = admin.get("/admin/sla", headers=EN).text
    assert "sla.yaml is not in the mappings folder, so no clock is timed." in html


def test_strangers_are_sent_to_the_login_form(anonymous):
    response = anonymous.get("/admin/sla")
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")


def test_every_sla_label_built_from_a_value_is_defined():
    kinds = ("started", "reminder", "breach", "touched", "recycle", "met", "late", "deadline_moved")
    states = ("waiting", "breached", "following_up", "met", "late", "untimed")
    built = [f"sla_log.{kind}" for kind in kinds] + [f"sla_state.{state}" for state in states] \
        + [f"sla_to.{who}" for who in RECIPIENTS] + [f"sla_segment.{segment}" for segment in SEGMENTS] \
        + [f"sla_unit.{unit}" for unit in UNITS] \
        + ["sample.handoff_now", "sample.friday_evening", "sample.pasted_time"]
    assert [key for key in built if key not in MESSAGES] == []
