"""The mappings folder: check every route at once, load them for start-up, save one atomically."""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.mapping.loader import Describe, check_text, new_yaml
from bridge.mapping.model import Route
from bridge.mapping.problems import MappingError, Problem

ROUTE_SUFFIXES = (".yaml", ".yml")
#: Files in the folder that are not routes: the handoff rules have their own format and checker.
NOT_ROUTES = frozenset({"handoff.yaml", "handoff.yml"})


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
        loaded = check_text(text, path, env, describe)
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
