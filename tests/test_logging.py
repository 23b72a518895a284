"""Logs: one record per line whatever a value holds, control characters escaped; ids, not names or emails."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from bridge import logs
from bridge.app import create_app
from bridge.kernel.errors import ConfigError
from tests.handoff.test_pipeline import WORKED_EXAMPLE, act, world  # noqa: F401 (the fixture)

RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
log = logging.getLogger("bridge.test")


@pytest.fixture
def output():
    """Bridge's log handler writing to a buffer; removed afterwards."""
    buffer = io.StringIO()
    handler = logs.configure("DEBUG", "text", buffer)
    yield buffer
    logging.getLogger().removeHandler(handler)


def records(buffer: io.StringIO) -> list[str]:
    """The records written, each with its continuation lines; fails if a line is neither."""
    found: list[str] = []
    for line in buffer.getvalue().splitlines():
        if RECORD_START.match(line):
            found.append(line)
        else:
            assert line.startswith("    ") and found, f"a line that is no record of its own: {line!r}"
            found[-1] += "\n" + line
    return found


def test_a_newline_in_a_lead_value_cannot_forge_a_log_line(output):
    log.info("lead %s named %s", 7, "a\nINFO forged")
    assert output.getvalue().count("\n") == 1
    assert output.getvalue().rstrip("\n").endswith("INFO bridge.test: lead 7 named a\\nINFO forged")


@pytest.mark.parametrize("char, shown", [
    ("\r", "\\r"), ("\x1b", "\\x1b"), ("\x00", "\\x00"), ("\t", "\\t"), ("\x7f", "\\x7f"), ("\x85", "\\x85"),
    ("\x9b", "\\x9b"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"),
])
def test_every_control_character_is_escaped(output, char, shown):
    log.warning("value %s", f"x{char}[31mINFO y")
    (record,) = records(output)
    assert char not in record and f"value x{shown}[31mINFO y" in record


def test_printable_text_is_unchanged(output):
    log.info("%s", "山田 太郎（株式会社サンプル）ｶﾌﾞｼｷｶﾞｲｼｬ 😀 C:\\path")
    assert "山田 太郎（株式会社サンプル）ｶﾌﾞｼｷｶﾞｲｼｬ 😀 C:\\path" in output.getvalue()


def test_a_traceback_keeps_its_lines_indented_under_its_record(output):
    try:
        raise ValueError("bad value a\n2026-11-21 09:00:00,000 INFO forged")
    except ValueError:
        log.exception("failed for %s", "x\ny")
    (record,) = records(output)
    first, *rest = record.split("\n")
    assert first.endswith("ERROR bridge.test: failed for x\\ny")
    assert rest[0] == "    Traceback (most recent call last):"
    assert rest[-2:] == ["    ValueError: bad value a", "    2026-11-21 09:00:00,000 INFO forged"]


def test_json_format_is_one_object_per_line_with_the_message_escaped():
    buffer = io.StringIO()
    handler = logs.configure("INFO", "json", buffer)
    try:
        log.info("lead %s named %s", 7, "a\nINFO forged\u2028山田")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert (first["level"], first["logger"], first["message"]) == \
        ("INFO", "bridge.test", "lead 7 named a\\nINFO forged\\u2028山田")
    assert "time" in first and "ValueError: boom" in second["exc_info"]


def test_configuring_again_replaces_bridges_handler_and_keeps_the_others(make_settings, clock):
    other = logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(other)
    try:
        for log_format in ("text", "json"):
            create_app(make_settings(BRIDGE_LOG_FORMAT=log_format), clock=clock)
        ours = [h for h in root.handlers if getattr(h, "bridge", False)]
        assert len(ours) == 1 and other in root.handlers
        assert type(ours[0].formatter).__name__ == "EscapedJsonFormatter"
    finally:
        root.removeHandler(other)


def test_an_unknown_log_format_is_refused(make_settings):
    with pytest.raises(ConfigError, match="BRIDGE_LOG_FORMAT='xml' must be one of: text, json"):
        make_settings(BRIDGE_LOG_FORMAT="xml")
    assert make_settings().log_format == "text"


def test_a_handoff_logs_ids_not_the_leads_name_or_email(world, output):  # noqa: F811 (the fixture)
    name, email = "a\nINFO forged", "forged.name@example.co.jp"
    (contact,) = world.contacts({**WORKED_EXAMPLE, "lastname": name, "email": email})
    world.activities(*(act(f"l{n}", kind, hubspot_id=contact) for n, kind in
                       enumerate(["whitepaper_download", "whitepaper_download", "pricing_page_visit"])))
    world.drain()
    lead = world.store.leads.find(hubspot_id=contact)
    assert lead["handed_off_at"] and lead["records"]["salesforce"]
    text = "\n".join(records(output))  # every line is a record (or a traceback line under one)
    assert f"lead {lead['id']} (HubSpot contact {contact}) handed off: handoff by" in text
    assert f"handoff: lead {lead['id']} (HubSpot contact {contact}) by" in text  # no Slack: the notice is a log line
    for personal in ("forged", "forged.name", "example.co.jp", "山田", "太郎"):
        assert personal not in text
