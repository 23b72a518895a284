"""Reading a rules file (handoff.yaml, feedback.yaml, sla.yaml): YAML → schema → values, every problem at file:line."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from marshmallow import Schema, ValidationError
from ruamel.yaml.comments import CommentedMap

from bridge.mapping.loader import line_of, parse_yaml, schema_messages
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
    doc, problems = parse_yaml(text, file)
    if problems:
        return None, problems
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
    values, problems = check_once(check, path.read_text(encoding="utf-8"), path)
    if problems:
        raise MappingError(problems)
    return values


def check_once(check: Callable[[str, Path], tuple[T | None, list[Problem]]], text: str,
               file: str | Path) -> tuple[T | None, list[Problem]]:
    """`check(text, file)`, parsed once per content: every app, worker and admin page checks the same rules text,
    and ruamel's round-trip parse takes tens of ms. Keyed on the text itself, so a saved change is always seen;
    the file only names the problems, so it is set afterwards (the values are frozen: sharing them is safe)."""
    values, problems = _checked(check, text, Path(file).name)
    return values, [replace(problem, file=str(file)) for problem in problems]


@lru_cache(maxsize=32)
def _checked(check: Callable, text: str, name: str) -> tuple[Any, tuple[Problem, ...]]:
    values, problems = check(text, Path(name))
    return values, tuple(problems)
