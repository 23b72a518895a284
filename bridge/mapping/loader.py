"""Reads one mapping text into a Route; every problem found names its file, line and entry."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.representer import RoundTripRepresenter

from bridge.mapping.model import FieldMap, Route, Side
from bridge.mapping.problems import Problem
from bridge.mapping.schema import FieldSchema, RouteSchema
from bridge.mapping.validate import Finding, check_fields, check_route
from connectors.base import FieldInfo

#: The fields of (system, object) as a connector's describe() reports them; None: not known.
Describe = Callable[[str, str], Mapping[str, FieldInfo] | None]

_HEADER = ("description", "enabled", "source", "target")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: The only settings a mapping may name as ${SETTING}: non-secret values an admin may see and preview. Mappings
#: are edited over the admin API and echoed in checks and previews, so a token, password, key or secret URL
#: must never be reachable from one; add a name here only if its value is safe to show to every admin.
PLACEHOLDER_SETTINGS = ("KINTONE_APP_ID",)
# marshmallow's wording, said the way an admin editing a file needs to hear it
_REWORDED = {
    "Missing data for required field.": "missing; this key is required",
    "Not a valid string.": "must be text",
    "Not a valid boolean.": "must be true or false",
    "Not a valid list.": "must be a list (one `- ` item per line)",
    "Field may not be null.": "must not be empty",
    "Invalid input type.": "must be a mapping of `key: value` lines",
}


def new_yaml() -> YAML:
    """Round-trip mode keeps comments and key order; the indents match the shipped files."""
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap an admin's long lines
    yaml.Representer = _Representer
    return yaml


class _Representer(RoundTripRepresenter):
    """ruamel writes None as an empty value; keep the `null` the shipped files spell out."""

    def represent_none(self, data: None) -> Any:
        return self.represent_scalar("tag:yaml.org,2002:null", "null")


_Representer.add_representer(type(None), _Representer.represent_none)


@dataclass
class Loaded:
    """The outcome of reading one file: the route when usable, and what is wrong or doubtful."""

    file: str
    route: Route | None = None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")


def parse_yaml(text: str, file: str) -> tuple[Any, list[Problem]]:
    """The YAML document of a mappings-folder file, or the problem that stops it being read, at its line."""
    try:
        return new_yaml().load(text), []
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        return None, [Problem(file, mark.line + 1 if mark else 1, "YAML",
                              " ".join(filter(None, [error.context, error.problem])))]
    except ValueError as error:  # a value YAML reads as a date but no calendar has, e.g. 2026-02-30
        return None, [Problem(file, _impossible_date_line(text), "YAML",
                              f"{error}: correct the date, or quote it to keep it as text")]


def _impossible_date_line(text: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        for year, month, day in _DATE.findall(line.split("#", 1)[0]):
            try:
                date(int(year), int(month), int(day))
            except ValueError:
                return number
    return None


def check_text(text: str, file: str | Path, env: Mapping[str, str], describe: Describe | None = None) -> Loaded:
    """Parse and validate a text as if it were `file`; `route` is set only when it has no errors."""
    loaded = Loaded(str(file))
    doc, problems = parse_yaml(text, loaded.file)
    if problems:
        loaded.errors += problems
        return loaded
    if not isinstance(doc, CommentedMap):
        loaded.errors.append(
            Problem(
                loaded.file,
                1,
                "(file)",
                "a mapping file is a set of `key: value` lines with source, target and fields",
            )
        )
        return loaded
    findings: list[Finding] = []
    try:
        data = RouteSchema().load(doc)
        header, items, complete = data, list(enumerate(data["field_maps"])), True
    except ValidationError as error:
        findings += [Finding(path, message) for path, message in schema_messages(error.messages, ())]
        header, items, complete = _recover(doc)
    fields = tuple(_field_map(i, item) for i, item in items)
    findings += check_fields(fields)
    route = None
    if header is not None:
        sides, side_findings = _resolve_sides(header, env)
        findings += side_findings
        route = Route(
            name=Path(file).stem,
            source=sides[0],
            target=sides[1],
            fields=fields,
            enabled=header.get("enabled", True),
            description=header.get("description"),
            path=Path(file),
        )
        target = source = None
        if describe is not None and not side_findings:  # only objects named in full are described
            target = describe(route.target.system, route.target.object)
            source = describe(route.source.system, route.source.object)
        findings += check_route(route, target, source, complete)
    for finding in findings:
        problem = Problem(loaded.file, line_of(doc, finding.path), where(doc, finding.path), finding.message)
        (loaded.warnings if finding.warning else loaded.errors).append(problem)
    loaded.errors.sort(key=lambda p: p.line or 0)
    loaded.warnings.sort(key=lambda p: p.line or 0)
    loaded.route = route if not loaded.errors else None
    return loaded


def _recover(doc: CommentedMap) -> tuple[dict | None, list[tuple[int, dict]], bool]:
    """After schema errors, the parts that did load: their semantic problems are reported too."""
    header = _try(RouteSchema(only=_HEADER), {k: v for k, v in doc.items() if k != "fields"})
    raw = doc.get("fields")
    items = [(i, d) for i, item in enumerate(raw if isinstance(raw, list) else []) if (d := _try(FieldSchema(), item))]
    complete = isinstance(raw, list) and len(items) == len(raw)
    return header, items, complete


def _try(schema: Schema, data: Any) -> dict | None:
    try:
        return schema.load(data)
    except ValidationError:
        return None


def _field_map(index: int, item: dict) -> FieldMap:
    return FieldMap(
        index=index,
        target=item["target"],
        source=item.get("source"),
        direction=item["direction"],
        conflict=item.get("conflict"),
        transforms=tuple(item["transforms"] or ()),
        reverse=tuple(item["reverse"] or ()),
        required=item["required"],
        default=item.get("default"),
    )


def placeholder_values(env: Mapping[str, str]) -> dict[str, str]:
    """The settings a ${SETTING} may read (PLACEHOLDER_SETTINGS), and nothing else of the environment."""
    return {name: env.get(name, "").strip() for name in PLACEHOLDER_SETTINGS}


def _resolve_sides(header: dict, env: Mapping[str, str]) -> tuple[tuple[Side, Side], list[Finding]]:
    """Fill ${SETTING} placeholders in object names from PLACEHOLDER_SETTINGS only; an unset one blocks only an
    enabled route. No message shows a setting's value."""
    values = placeholder_values(env)
    findings: list[Finding] = []
    sides = []
    for name in ("source", "target"):
        raw = header[name]
        named = _PLACEHOLDER.findall(raw["object"])
        refused = [m for m in named if m not in values]
        missing = [m for m in named if m in values and not values[m]]
        resolved = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), raw["object"])
        if refused:
            findings.append(
                Finding(
                    (name, "object"),
                    f"not allowed here: {', '.join(f'${{{m}}}' for m in refused)}; a mapping may use only the "
                    f"setting(s) {', '.join(PLACEHOLDER_SETTINGS)}, otherwise write the object name itself",
                )
            )
        elif missing:
            findings.append(
                Finding(
                    (name, "object"),
                    f"setting {', '.join(missing)} is not set; set it, or set `enabled: false` on this route",
                    warning=not header.get("enabled", True),
                )
            )
        elif raw["system"] == "kintone" and not resolved.isdigit():
            shown = f"setting {', '.join(named)} is not one" if named else f"not {resolved!r}"
            findings.append(Finding((name, "object"), f"a kintone app id is a number, {shown}"))
        sides.append(Side(raw["system"], resolved, raw["key"]))
    return (sides[0], sides[1]), findings


def schema_messages(messages: Any, path: tuple) -> Iterator[tuple[tuple, str]]:
    """marshmallow's nested error messages as (path, message) pairs, worded for admins editing YAML."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from schema_messages(value, path if key == "_schema" else (*path, _data_key(key)))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for message in messages:
            yield path, _REWORDED.get(message, message)
    else:
        yield path, str(messages)


def _data_key(key: Any) -> Any:
    return "fields" if key == "field_maps" else key


def line_of(doc: CommentedMap, path: tuple) -> int:
    """The 1-based line of the deepest node of `path` present in the document."""
    node, line = doc, doc.lc.line
    for part in path:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0]
        else:
            break
        node = node[part]
    return line + 1


def where(doc: CommentedMap, path: tuple) -> str:
    """A readable name for `path`, e.g. "fields[4] (Company).transforms[1]" or "target.key"."""
    text, rest = "", path
    if len(path) >= 2 and path[0] == "fields" and isinstance(path[1], int):
        raw = doc.get("fields")
        item = raw[path[1]] if isinstance(raw, list) and path[1] < len(raw) else None
        label = (item.get("target") or item.get("source")) if isinstance(item, Mapping) else None
        text, rest = f"fields[{path[1]}]" + (f" ({label})" if label else ""), path[2:]
    for part in rest:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(file)"
