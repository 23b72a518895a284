"""Reads mappings/handoff.yaml into `Rules`, with every problem pointing at its file and line."""

from __future__ import annotations

from pathlib import Path

from bridge.handoff.rules import Rules
from bridge.handoff.schema import RulesSchema, to_rules
from bridge.mapping import rulesfile
from bridge.mapping.problems import Problem

RULES_FILE = "handoff.yaml"


def check_rules_text(text: str, file: str | Path) -> tuple[Rules | None, list[Problem]]:
    """Parse and validate a rules text as if it were `file`: the rules, or every problem found."""
    return rulesfile.check_rules_text(text, file, RulesSchema(), to_rules, _semantic,
                                      "the handoff rules are `key: value` lines with at least `handoff:`")


def _semantic(rules: Rules):
    """Problems the schema cannot see: unknown activity types in criteria, repeated names and types."""
    known = {b.activity for b in rules.behaviours} | {activity for _, activity in rules.property_activities}
    for index, criterion in enumerate(rules.criteria):
        for activity, _ in criterion.activities:
            if activity not in known:
                yield ("handoff", index, "activities", activity), (
                    f"activity type {activity!r} is not scored in behaviours nor produced by property_activities; "
                    f"known types: {', '.join(sorted(known)) or 'none'}")
    seen: set[str] = set()
    for index, behaviour in enumerate(rules.behaviours):
        if behaviour.activity in seen:
            yield ("behaviours", index, "activity"), f"{behaviour.activity} is scored twice; keep one entry"
        seen.add(behaviour.activity)
    for section, items in (("attributes", rules.attributes), ("exclusions", rules.exclusions),
                           ("handoff", rules.criteria)):
        names: set[str] = set()
        for index, item in enumerate(items):
            if item.name in names:
                yield (section, index, "name"), f"name {item.name!r} is used twice in {section}; names must differ"
            names.add(item.name)


def load_rules(folder: str | Path) -> Rules:
    """The handoff rules of the mappings folder; raise MappingError listing every problem (start-up refuses)."""
    return rulesfile.load_rules_file(folder, RULES_FILE, check_rules_text, "the handoff rules")
