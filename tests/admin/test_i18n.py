"""The label dictionary: every key the pages use exists in both languages with the same placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from bridge.admin.editor import ROUTE, RULES_FILES
from bridge.admin.i18n import LANGUAGES, MESSAGES, Translator
from bridge.handoff.rules import STAGES

ADMIN = Path(__file__).resolve().parents[2] / "bridge" / "admin"
USED = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+|[a-z_]+)["']""")


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_used_in_templates_and_code_is_defined():
    sources = [*ADMIN.glob("templates/admin/*.html"), *(p for p in ADMIN.glob("*.py") if p.name != "i18n.py")]
    used = {key for path in sources for key in USED.findall(path.read_text(encoding="utf-8"))}
    assert used, "the pattern found no t(...) calls"
    assert used - set(MESSAGES) == set()


def test_keys_built_from_values_are_defined():
    actions = ("login", "login_failed", "logout", "save", "save_rejected", "restore", "restore_rejected")
    built = [f"kind.{kind}" for kind in (ROUTE, *RULES_FILES)] + [f"stage.{stage}" for stage in STAGES] \
        + [f"audit.{action}" for action in actions] + ["sample.worked", "sample.no_pricing", "sample.free_mail"]
    assert [key for key in built if key not in MESSAGES] == []


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_both_languages_take_the_same_placeholders(key):
    english, japanese = MESSAGES[key]
    assert english and japanese
    assert _placeholders(english) == _placeholders(japanese)


def test_languages_and_fallbacks():
    assert LANGUAGES == ("en", "ja")
    assert Translator("ja")("button.save") == "保存"
    assert Translator("de")("button.save") == "Save"
    assert Translator("en")("no.such.key") == "no.such.key"
    assert Translator("en")("status.problems", n=3) == "3 problem(s)"
    assert '{"field": "value"}' in Translator("en")("edit.record_help")
