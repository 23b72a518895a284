"""Reads mappings/handoff.yaml into `Rules`, with every problem pointing at its file and line."""

from __future__ import annotations

from pathlib import Path

from marshmallow import ValidationError
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError

from bridge.handoff.rules import Rules
from bridge.handoff.schema import RulesSchema, to_rules
from bridge.mapping.loader import line_of, new_yaml, schema_messages
from bridge.mapping.problems import MappingError, Problem

RULES_FILE = "handoff.yaml"


def check_rules_text(text: str, file: str | Path) -> tuple[Rules | None, list[Problem]]:
    """Parse and validate a rules text as if it were `file`: the rules, or every problem found."""
    file = str(file)
    try:
        doc = new_yaml().load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        return None, [Problem(file, mark.line + 1 if mark else 1, "YAML",
                              " ".join(filter(None, [error.context, error.problem])))]
    if not isinstance(doc, CommentedMap):
        return None, [Problem(file, 1, "(file)", "the handoff rules are `key: value` lines with at least `handoff:`")]
    try:
        data = RulesSchema().load(doc)
    except ValidationError as error:
        return None, sorted((Problem(file, line_of(doc, path), _where(path), message)
                             for path, message in schema_messages(error.messages, ())), key=lambda p: p.line or 0)
    rules = to_rules(data)
    problems = [Problem(file, line_of(doc, path), _where(path), message) for path, message in _semantic(rules)]
    return (None if problems else rules), problems


def _where(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path)) \
        or "(file)"


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
    path = Path(folder) / RULES_FILE
    if not path.is_file():
        raise MappingError([Problem(str(path), None, "(file)", "is missing; the handoff rules live here "
                                    "(`bridge init` writes the defaults to start from)")])
    rules, problems = check_rules_text(path.read_text(encoding="utf-8"), path)
    if problems:
        raise MappingError(problems)
    return rules
