"""Messages to people: lead-supplied text escaped for Slack; the failed-write alert and recovery texts."""

from __future__ import annotations

import json

import pytest
import responses

from bridge.worker.alerts import alert_lines, recovery_lines
from bridge.worker.notify import for_slack, notify

HOOK = "https://hooks.slack.com/services/T0/B0/x"


def lead(**record) -> dict:
    return {"id": 7, "hubspot_id": "101", "email": "t@example.co.jp", "handoff_reason": "handoff by pricing",
            "handoff_criterion": "pricing", "record": {"lastname": "山田", "firstname": "太郎", **record}}


def posted(hook) -> dict:
    return json.loads(hook.calls[0].request.body)


@pytest.mark.parametrize("value, shown", [
    ("<!channel>", "&lt;!channel&gt;"),
    ("<!here|here>", "&lt;!here|here&gt;"),
    ("<@U123>", "&lt;@U123&gt;"),
    ("<https://evil.example|Click here>", "&lt;https://evil.example|Click here&gt;"),
    ("&lt;!channel&gt;", "&amp;lt;!channel&amp;gt;"),  # already-escaped text is shown as typed, not decoded
    ("R&D <営業>", "R&amp;D &lt;営業&gt;"),
    ("山田 太郎（株式会社サンプル）ｶﾌﾞｼｷｶﾞｲｼｬ 😀", "山田 太郎（株式会社サンプル）ｶﾌﾞｼｷｶﾞｲｼｬ 😀"),
    ("taro_yamada@example.co.jp *VIP*", "taro_yamada@example.co.jp *VIP*"),
])
def test_for_slack_escapes_the_three_control_characters_and_nothing_else(value, shown):
    assert for_slack(value) == shown


@pytest.mark.parametrize("brk", ["\n", "\r\n", "\u2028", "\u2029", "\x1b", "\x85", "\t"])
def test_for_slack_keeps_a_value_on_its_line(brk):
    assert for_slack(f"山田{brk}• 偽の行") == "山田 • 偽の行"


@responses.activate
@pytest.mark.parametrize("field, value", [
    ("lastname", "<!channel>"), ("firstname", "<@U123>"), ("company", "<https://evil.example|Click here>"),
    ("hubspot_owner_id", "<!everyone>"),
])
def test_a_handoff_notice_can_neither_mention_nor_hide_a_link(field, value):
    hook = responses.post(HOOK, body="ok")
    notify(HOOK, [lead(**{field: value})])
    text = posted(hook)["text"]
    # Bridge's own text has no angle brackets either: any "<" would be the start of a Slack control sequence.
    assert "<" not in text and ">" not in text
    assert for_slack(value) in text


@responses.activate
def test_a_break_in_a_lead_value_cannot_forge_another_notice_line():
    hook = responses.post(HOOK, body="ok")
    notify(HOOK, [lead(company="サンプル\n• 社長 <ceo@example.co.jp>: handoff by VIP"), lead(lastname="佐藤")])
    lines = posted(hook)["text"].split("\n")
    assert len(lines) == 3 and lines[1].startswith("• 山田 太郎") and lines[2].startswith("• 佐藤 太郎")


@responses.activate
def test_notices_turn_off_link_previews():
    hook = responses.post(HOOK, body="ok")
    notify(HOOK, [lead(company="https://evil.example")])
    assert posted(hook)["unfurl_links"] is False and posted(hook)["unfurl_media"] is False


EPISODE = {"id": 1, "target": "hubspot-contact-to-salesforce-lead", "kind": "upsert", "count": 3,
           "last_reason": "salesforce REQUIRED_FIELD_MISSING: Required fields are missing: [Company]",
           "fields": json.dumps(["Company"]), "first_at": "2026-11-21T09:00:00.000Z"}


def test_an_alert_says_what_failed_and_what_to_do_japanese_first():
    first, second, reason, fields = alert_lines(EPISODE, still_dead=3)
    assert first.startswith("⚠️ Bridge: hubspot-contact-to-salesforce-lead (upsert) への書き込みが失敗し、3 件")
    assert "bridge outbox replay --all" in first and "/admin/outbox" in first
    assert second.startswith("⚠️ Bridge: writes to hubspot-contact-to-salesforce-lead (upsert) failed: 3 dead")
    assert "Fix the mapping or the data, then run `bridge outbox replay --all`" in second
    assert reason == f"理由 / Reason: {EPISODE['last_reason']}" and fields == "項目 / Fields: Company"


def test_a_recovery_notice_says_whether_dead_letters_are_left():
    ja, en = recovery_lines(EPISODE, still_dead=0)
    assert "回復しました" in ja and "デッドレターは残っていません" in ja
    assert en.startswith("✅ Bridge: writes to hubspot-contact-to-salesforce-lead work again") and "No dead" in en
    ja, en = recovery_lines(EPISODE, still_dead=2)
    assert "まだ 2 件" in ja and "2 dead letter(s) still wait for a replay" in en and "replay --all" in en
