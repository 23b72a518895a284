"""Reading a rules file (handoff.yaml, feedback.yaml, sla.yaml): YAML → schema → values, every problem at file:line."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from marshmallow import Schema, ValidationError
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError

from bridge.mapping.loader import line_of, new_yaml, schema_messages
from bridge.mapping.problems import MappingError, Problem

T = TypeVar("T")
#: A problem only the loaded values show (a reference to an unknown name, a repeated one): (path, message).
Semantic = Callable[[T], Iterable[tuple[tuple, str]]]


def where(path: tuple) -> str:
    """`handoff[2].activities` for ("handoff", 2, "activities")."""
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path)) \
        or "(file)"


def check_rules_text(text: str, file: str | Path, schema: Schema, convert: Callable[[dict[str, Any]], T],
                     semantic: Semantic[T], shape: str) -> tuple[T | None, list[Problem]]:
    """Parse and validate `text` as if it were `file`: the values, or every problem found (then None).
    `shape` says in a few words what the file holds, for a file that is not `key: value` lines at all."""
    file = str(file)
    try:
        doc = new_yaml().load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        return None, [Problem(file, mark.line + 1 if mark else 1, "YAML",
                              " ".join(filter(None, [error.context, error.problem])))]
    if not isinstance(doc, CommentedMap):
        return None, [Problem(file, 1, "(file)", shape)]
    try:
        data = schema.load(doc)
    except ValidationError as error:
        return None, sorted((Problem(file, line_of(doc, path), where(path), message)
                             for path, message in schema_messages(error.messages, ())), key=lambda p: p.line or 0)
    values = convert(data)
    problems = [Problem(file, line_of(doc, path), where(path), message) for path, message in semantic(values)]
    return (None if problems else values), problems


def load_rules_file(folder: str | Path, name: str, check: Callable[[str, Path], tuple[T | None, list[Problem]]],
                    purpose: str) -> T:
    """The rules in `folder/name`; raise MappingError listing every problem (start-up refuses)."""
    path = Path(folder) / name
    if not path.is_file():
        raise MappingError([Problem(str(path), None, "(file)", f"is missing; {purpose} live here "
                                    "(`bridge init` writes the defaults to start from)")])
    values, problems = check(path.read_text(encoding="utf-8"), path)
    if problems:
        raise MappingError(problems)
    return values
