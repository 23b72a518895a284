"""The mappings folder: check every route at once, load them for start-up, save one atomically."""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from bridge.mapping.loader import Describe, Loaded, check_text, new_yaml, placeholder_values
from bridge.mapping.model import Route
from bridge.mapping.problems import MappingError, Problem

ROUTE_SUFFIXES = (".yaml", ".yml")
#: Files in the folder that are not routes: the handoff rules have their own format and checker.
#: The rules files that share the folder with the routes (bridge/handoff, bridge/feedback, bridge/sla).
NOT_ROUTES = frozenset({"handoff.yaml", "handoff.yml", "feedback.yaml", "feedback.yml", "sla.yaml", "sla.yml"})


@dataclass
class Report:
    """Every route that loaded, and every problem in the folder, in file and line order."""

    routes: dict[str, Route] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def route_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix in ROUTE_SUFFIXES and p.name not in NOT_ROUTES and not p.name.startswith(".")
    )


def check_folder(folder: str | Path, env: Mapping[str, str], describe: Describe | None = None) -> Report:
    """Validate every route file in `folder`; what `bridge mappings check` and start-up run."""
    folder = Path(folder)
    report = Report()
    if not folder.is_dir():
        report.errors.append(
            Problem(
                str(folder),
                None,
                "(folder)",
                "does not exist; create it or point BRIDGE_MAPPINGS at the folder holding the mapping files",
            )
        )
        return report
    for path in route_files(folder):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            report.errors.append(
                Problem(
                    str(path),
                    None,
                    "(file)",
                    f"is not UTF-8 text ({error.reason}); save it as UTF-8",
                )
            )
            continue
        loaded = check_text_once(text, path, env) if describe is None else check_text(text, path, env, describe)
        report.errors += loaded.errors
        report.warnings += loaded.warnings
        if loaded.route is None:
            continue
        if loaded.route.name in report.routes:
            other = report.routes[loaded.route.name].path
            report.errors.append(Problem(str(path), None, "(file)", f"same route name as {other}; rename one of them"))
            continue
        report.routes[loaded.route.name] = loaded.route
    return report


def check_text_once(text: str, file: str | Path, env: Mapping[str, str]) -> Loaded:
    """`check_text` without describe(), parsed once per content: every app, worker and admin page checks the same
    few texts, and ruamel's round-trip parse takes tens of ms a file. Keyed on the text itself (never on a time
    stamp), so a saved change is always seen; the file only names the route and the problems, so it is set after."""
    path, named = Path(file), str(file)
    found = _checked(text, path.name, tuple(sorted(placeholder_values(env).items())))
    return Loaded(named, found.route and replace(found.route, path=path),
                  [replace(p, file=named) for p in found.errors], [replace(p, file=named) for p in found.warnings])


@lru_cache(maxsize=64)
def _checked(text: str, name: str, placeholders: tuple[tuple[str, str], ...]) -> Loaded:
    # only the settings a mapping may name reach the check: they are the whole of the environment it depends on
    return check_text(text, name, dict(placeholders))


def load_routes(folder: str | Path, env: Mapping[str, str], describe: Describe | None = None) -> dict[str, Route]:
    """All routes by name, for start-up; raise MappingError listing every problem instead."""
    report = check_folder(folder, env, describe)
    if report.errors:
        raise MappingError(report.errors)
    return report.routes


def save_mapping(path: str | Path, text: str, env: Mapping[str, str], describe: Describe | None = None) -> Route:
    """Validate `text` as the file `path`; only if it has no errors, replace the file atomically.

    A rejected text raises MappingError and leaves the file (the active version) untouched.
    """
    path = Path(path)
    text = text.replace("\r\n", "\n")  # a browser sends a textarea with CRLF line ends
    if path.suffix not in ROUTE_SUFFIXES or path.name in NOT_ROUTES:
        raise MappingError(
            [
                Problem(
                    str(path),
                    None,
                    "(file)",
                    "a route file name ends in .yaml and is not " + " or ".join(sorted(NOT_ROUTES)),
                )
            ]
        )
    loaded = check_text(text, path, env, describe)
    if loaded.errors:
        raise MappingError(loaded.errors)
    assert loaded.route is not None
    write_atomically(path, text)
    return loaded.route


def write_atomically(path: Path, text: str) -> None:
    """Write beside the file, flush, rename over it: readers see the old or the new file, whole."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_document(text: str) -> Any:
    """The text as an editable ruamel document; `dump_document` writes it back, comments kept."""
    return new_yaml().load(text)


def dump_document(document: Any) -> str:
    buffer = io.StringIO()
    new_yaml().dump(document, buffer)
    return buffer.getvalue()
