"""`bridge mappings`: check every route, preview a record through one, print the JSON Schema."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from bridge.config import settings_or_exit
from bridge.feedback.load import FEEDBACK_FILE, check_feedback_text
from bridge.handoff.load import RULES_FILE, check_rules_text
from bridge.mapping.apply import Preview, Row, preview_route
from bridge.mapping.describe import ConnectorDescriptions
from bridge.mapping.files import ROUTE_SUFFIXES, check_folder, check_text_once, route_files
from bridge.mapping.jsonschema import mapping_json_schema
from bridge.mapping.problems import Problem
from bridge.mapping.rulesfile import check_once
from bridge.mapping.sample import sample_record
from bridge.sla.load import SLA_FILE, check_sla_text
from connectors.registry import load_connectors


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _fail(problems: Sequence[Problem | str]) -> NoReturn:
    for problem in problems:
        click.echo(str(problem), err=True)
    click.echo(f"{len(problems)} problem(s)", err=True)
    sys.exit(1)


@click.group("mappings")
def mappings() -> None:
    """Field mappings in BRIDGE_MAPPINGS: check them, preview a record, print their JSON Schema."""


@mappings.command()
@click.option(
    "--live",
    is_flag=True,
    help="also check field names, types and picklists against the objects in the configured "
    "systems (reads each object's description through its connector)",
)
def check(live: bool) -> None:
    """Validate every mapping file; exit 1 listing all problems, else print OK per route."""
    settings = settings_or_exit()
    described = ConnectorDescriptions(load_connectors(settings.env)[0]) if live else None
    report = check_folder(settings.mappings_dir, settings.env, described)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    for note in described.skipped if described else ():
        click.echo(f"note: {note}", err=True)
    rules_path = Path(settings.mappings_dir) / RULES_FILE
    rules, rule_problems = (check_once(check_rules_text, rules_path.read_text(encoding="utf-8"), rules_path)
                            if rules_path.is_file() else (None, [Problem(str(rules_path), None, "(file)",
                                                                          "is missing; the handoff rules live here")]))
    feedback_path = Path(settings.mappings_dir) / FEEDBACK_FILE
    feedback, feedback_problems = (
        check_once(check_feedback_text, feedback_path.read_text(encoding="utf-8"), feedback_path)
        if feedback_path.is_file() else (None, []))  # optional: feedback is then off
    sla_path = Path(settings.mappings_dir) / SLA_FILE
    sla, sla_problems = (check_once(check_sla_text, sla_path.read_text(encoding="utf-8"), sla_path)
                         if sla_path.is_file() else (None, []))  # optional: the SLA timers are then off
    problems = [*report.errors, *rule_problems, *feedback_problems, *sla_problems,
                *(described.failures if described else ())]
    if problems:
        _fail(problems)
    if not report.routes:
        click.echo(f"no mapping files in {settings.mappings_dir}")
    for name, route in report.routes.items():
        click.echo(f"OK {name}: {route.summary()}")
    click.echo(f"OK {RULES_FILE}: {len(rules.criteria)} handoff criteria, {len(rules.attributes)} attribute and "
               f"{len(rules.behaviours)} behaviour rules, {len(rules.exclusions)} exclusions")
    if feedback is None:
        click.echo(f"note: no {FEEDBACK_FILE}: sales feedback is off (`bridge init` writes the default)")
    else:
        click.echo(f"OK {FEEDBACK_FILE}: {len(feedback.objects)} sales object(s), {len(feedback.reasons)} reasons, "
                   f"{len(feedback.lifecycle)} lifecycle moves")
    if sla is None:
        click.echo(f"note: no {SLA_FILE}: the SLA timers are off (`bridge init` writes the default)")
    else:
        click.echo(f"OK {SLA_FILE}: {len(sla.policies)} SLA polic{'y' if len(sla.policies) == 1 else 'ies'} "
                   f"({', '.join(p.name for p in sla.policies)}), calendar in {sla.calendar.zone.key}")


@mappings.command()
@click.argument("route")
@click.option(
    "--record",
    "record_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON file with the source record: {field: value}, or a HubSpot API object",
)
@click.option("--sample", is_flag=True, help="use the built-in sample record (Japanese data included)")
@click.option("--json", "as_json", is_flag=True, help="print the preview as JSON")
def preview(route: str, record_file: Path | None, sample: bool, as_json: bool) -> None:
    """Show the payload ROUTE would send for a record, field by field, with each transform."""
    if (record_file is None) == (not sample):
        raise click.UsageError("give --record FILE or --sample (one of them)")
    settings = settings_or_exit()
    path = _route_path(settings.mappings_dir, route)
    loaded = check_text_once(path.read_text(encoding="utf-8"), path, settings.env)
    if loaded.route is None:
        _fail(loaded.errors)
    source = loaded.route.source
    record = sample_record(source.system, source.object) if record_file is None else _read_record(record_file)
    if record is None:
        raise click.UsageError(f"no sample record for {source.system} {source.object}; use --record FILE")
    result = preview_route(loaded.route, record)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        _print_preview(loaded.route.summary(), result)
    if result.errors:
        sys.exit(1)


def _route_path(folder: Path, name: str) -> Path:
    for suffix in ROUTE_SUFFIXES:
        if (folder / f"{name}{suffix}").is_file():
            return folder / f"{name}{suffix}"
    known = ", ".join(p.stem for p in route_files(folder)) if folder.is_dir() else "none"
    raise click.UsageError(f"no route {name!r} in {folder}; routes: {known}")


def _read_record(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise click.UsageError(f"{path} is not UTF-8 JSON: {error}") from None
    if not isinstance(data, dict):
        raise click.UsageError(f"{path} must hold a JSON object of field: value")
    if isinstance(data.get("properties"), dict):  # a HubSpot API object: {"id": ..., "properties": {...}}
        return {"hs_object_id": data.get("id"), **data["properties"]}
    return data


def _print_preview(summary: str, result: Preview) -> None:
    click.echo(f"{result.route}: {summary}")
    for row in result.rows:
        click.echo(_row_lines(row))
    click.echo("payload:")
    click.echo(json.dumps(result.payload, ensure_ascii=False, indent=2))
    for error in result.errors:
        click.echo(f"cannot send: {error}", err=True)


def _row_lines(row: Row) -> str:
    shown = _show(row.value) if row.sent else "(not sent: " + ("error" if row.error else "empty") + ")"
    lines = [f"{row.field} = {shown}" + ("   [upsert key]" if row.key else "")]
    if row.source:
        lines.append(f"    from {row.source} = {_show(row.source_value)}")
    lines += [f"    reads {name} = {_show(value)}" for name, value in row.reads]
    lines += [f"    {step.transform} → {_show(step.output)}" for step in row.steps]
    if row.defaulted:
        lines.append(f"    default → {_show(row.value)}")
    lines += [f"    note: {note}" for note in row.notes]
    if row.error:
        lines.append(f"    error: {row.error}")
    return "\n".join(lines)


@mappings.command()
def schema() -> None:
    """Print the JSON Schema of mapping files, for editors with a YAML language server."""
    click.echo(json.dumps(mapping_json_schema(), ensure_ascii=False, indent=2))
