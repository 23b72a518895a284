"""Reads mappings/feedback.yaml into `FeedbackRules`, with every problem pointing at its file and line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bridge.feedback.rules import FeedbackRules
from bridge.feedback.schema import FeedbackSchema, to_rules
from bridge.mapping.problems import Problem
from bridge.mapping.rulesfile import check_rules_text, load_rules_file
from bridge.mapping.transforms import fold

FEEDBACK_FILE = "feedback.yaml"


def check_feedback_text(text: str, file: str | Path) -> tuple[FeedbackRules | None, list[Problem]]:
    """Parse and validate a feedback text as if it were `file`: the rules, or every problem found."""
    return check_rules_text(text, file, FeedbackSchema(), to_rules, _semantic,
                            "the feedback rules are `key: value` lines with `objects:` and `reasons:`")


def _semantic(rules: FeedbackRules) -> Iterator[tuple[tuple, str]]:
    """What the schema cannot see: a reason code or value used twice, an object described twice."""
    codes: set[str] = set()
    values: dict[str, str] = {}
    for index, reason in enumerate(rules.reasons):
        if reason.code in codes:
            yield ("reasons", index, "code"), f"reason {reason.code!r} is defined twice; keep one"
        codes.add(reason.code)
        for value in reason.values:
            other = values.setdefault(fold(value), reason.code)
            if other != reason.code:
                yield ("reasons", index, "values"), f"{value!r} already means {other!r}; a value means one reason"
    seen: set[tuple[str, str]] = set()
    for index, rules_of in enumerate(rules.objects):
        key = (rules_of.system, rules_of.object)
        if key in seen:
            yield ("objects", index, "object"), f"{rules_of.system} {rules_of.object} is described twice"
        seen.add(key)


def load_feedback(folder: str | Path) -> FeedbackRules:
    """The feedback rules of the mappings folder; raise MappingError listing every problem (start-up refuses)."""
    return load_rules_file(folder, FEEDBACK_FILE, check_feedback_text, "the sales feedback rules")
