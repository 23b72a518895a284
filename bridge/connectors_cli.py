"""`bridge connectors`: list the connectors with their settings, and check each against its API."""

from __future__ import annotations

import sys

import click

from bridge.config import read_environment
from bridge.kernel.errors import AuthError, ConnectorError
from connectors.registry import connector_classes, load_connectors


@click.group()
def connectors() -> None:
    """The systems Bridge reads and writes: HubSpot, Salesforce, kintone, and installed plug-ins."""


@connectors.command("list")
def list_connectors() -> None:
    """Each connector with the settings it reads."""
    for name, cls in connector_classes().items():
        click.echo(f"{name}  ({cls.__module__}.{cls.__qualname__})")
        for setting, meaning in cls.settings_help.items():
            click.echo(f"  {setting:<28} {meaning}")


@connectors.command("check")
@click.argument("names", nargs=-1)
def check(names: tuple[str, ...]) -> None:
    """Log in to each configured connector (or only NAMES) and make one cheap read.

    Prints OK or what is wrong: a missing or invalid setting, a rejected token, a missing
    permission.
    Exits 1 if anything failed, or if no connector is configured at all.
    """
    built, problems = load_connectors(read_environment())
    unknown = [n for n in names if n not in built]
    if unknown:
        raise click.UsageError(f"unknown connector {', '.join(unknown)}; known: {', '.join(built)}")
    failed = bool(problems)
    for problem in problems:
        click.echo(f"{'settings':<11} FAIL  {problem}")
    checked = 0
    for name, connector in built.items():
        if names and name not in names:
            continue
        problem = connector.api_problem()
        if problem:
            # Not using a system is fine; naming it and leaving it unconfigured is not.
            failed = failed or bool(names)
            click.echo(f"{name:<11} {'FAIL' if names else 'SKIP'}  {problem}")
            continue
        checked += 1
        try:
            detail = connector.check()
        except AuthError as error:
            failed = True
            named = not error.setting or error.setting in error.message
            fix = "" if named else f" [fix {error.setting}]"
            click.echo(f"{name:<11} FAIL  {error.message}{fix}")
        except ConnectorError as error:
            failed = True
            click.echo(f"{name:<11} FAIL  {type(error).__name__}: {error.message}")
        except Exception as error:  # a diagnostic command reports anything else too, and goes on
            failed = True
            click.echo(f"{name:<11} FAIL  unexpected {type(error).__name__} from the API: {error}")
        else:
            calls = sum(connector.calls.values())
            click.echo(f"{name:<11} OK    {detail} ({calls} request{'s' if calls != 1 else ''})")
    if not checked and not names:
        click.echo("no connector is configured for API access; see `bridge connectors list`")
        failed = True
    sys.exit(1 if failed else 0)
