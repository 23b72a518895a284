"""`bridge reconcile`: compare HubSpot with the sales systems and print the plan; repair only with --doit."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from bridge.config import settings_or_exit
from bridge.mapping.problems import MappingError

#: Exit codes a cron job or a systemd timer can act on.
REFUSED, FAILED = 3, 1


@click.command()
@click.option("--full", is_flag=True, help="compare every record, not only those changed since the last run")
@click.option("--doit", is_flag=True, help="repair what the plan says (through the outbox); without it nothing changes")
@click.option("--force", is_flag=True, help="repair even when the plan changes more than "
                                            "BRIDGE_RECONCILE_MAX_CHANGE_PERCENT (default 5 %) of the records")
@click.option("--format", "form", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True,
              help="how the report is printed")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the report to this file instead of the terminal")
@click.option("--quiet", is_flag=True, help="no progress line while reading")
def reconcile(full: bool, doit: bool, force: bool, form: str, output: Path | None, quiet: bool) -> None:
    """Read HubSpot and every enabled route's sales system, compare them through the mappings, and print what
    differs and what --doit would do. Incremental (records changed since the last run that repaired) unless --full,
    or unless the last full run is BRIDGE_RECONCILE_FULL_EVERY_DAYS (7) old. Exit status: 0 done, 3 refused (too
    many changes: look at the plan, then --force), 1 failed (see the message; run it again)."""
    from bridge import logs
    from bridge.jobs.reconcile import Reconciler
    from bridge.reconcile import report
    from bridge.services import build_services

    settings = settings_or_exit()
    logs.configure("WARNING" if not quiet else "ERROR", settings.log_format)
    try:
        services = build_services(settings)
    except MappingError as error:
        click.echo(f"Bridge cannot start: {error}\nFix the files, then check with `bridge mappings check`.", err=True)
        sys.exit(2)
    hubspot = services.connectors.get("hubspot")
    problem = "the HubSpot connector is not installed" if hubspot is None else hubspot.api_problem()
    if problem:
        click.echo(f"Cannot reconcile: {problem}. 照合できません: HubSpot API の設定を確認してください。", err=True)
        sys.exit(2)
    progress = None if quiet or not sys.stderr.isatty() else _ProgressLine()
    reconciler = Reconciler(services.store, lambda: services.mappings.routes, lambda: services.mappings.feedback,
                            services.connectors, settings.reconcile, services.clock, _sleep, progress)
    result = reconciler.run(full=full, doit=doit, force=force, trigger="cli")
    if progress is not None:
        progress.done()
    store = services.store
    run = store.reconciliations.run(result.run_id)
    items = store.reconciliations.items(result.run_id, limit=max(1, store.reconciliations.item_count(result.run_id)))
    previous = report.previous_run(store.reconciliations.runs(limit=20), run)
    if form == "text":
        rendered = report.text(run, items, previous, lang=_language())
    else:
        rendered = {"json": report.to_json, "csv": report.to_csv}[form](run, items, previous)
    if output is not None:
        output.write_text(rendered, encoding="utf-8")  # the CSV starts with its byte-order mark (Excel)
        click.echo(f"Report written to {output} / レポートを {output} に書き出しました", err=True)
    else:
        click.echo(rendered)
    if result.status == "refused":
        click.echo(f"Refused: the plan changes {run['share']:.1%} of the records, more than "
                   f"{settings.reconcile.max_change:.0%}. Check the plan; run again with --doit --force to repair. "
                   f"変更が多すぎるため中止しました。内容を確認し、--doit --force で実行してください。", err=True)
        sys.exit(REFUSED)
    if result.status == "failed":
        click.echo(f"Failed: {result.error}. Nothing was repaired; run it again. 失敗しました。再実行してください。",
                   err=True)
        sys.exit(FAILED)


def _language() -> str:
    """Japanese for a Japanese locale (LC_ALL, LC_MESSAGES or LANG starting with ja), else English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


def _sleep(seconds: float) -> bool:
    """The command waits out a system's refusal (a 429, a busy budget): it is the edge of the program."""
    time.sleep(seconds)
    return True


class _ProgressLine:
    """One line on the terminal, rewritten as pages arrive: records read and calls made per system."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[int, int]] = {}
        self.shown = 0.0

    def __call__(self, system: str, records: int, calls: int) -> None:
        self.seen[system] = (records, calls)
        if time.monotonic() - self.shown < 0.2:
            return
        self.shown = time.monotonic()
        parts = [f"{name} {records:,} records / {calls:,} calls" for name, (records, calls) in self.seen.items()]
        click.echo("\r読み取り中 / reading: " + " · ".join(parts), nl=False, err=True)

    def done(self) -> None:
        if self.seen:
            self.shown = 0.0
            click.echo("", err=True)
