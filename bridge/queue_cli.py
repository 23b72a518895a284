"""`bridge inbox` and `bridge outbox` (and any later queue): status, dead letters, replay, from one definition."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import click

from bridge.config import settings_or_exit
from bridge.kernel.clock import utcnow
from bridge.store import LeasedQueue, Store


@dataclass(frozen=True)
class QueueCommands:
    """How one queue is shown: its name, what its items are called, and one dead letter in a line."""

    name: str
    help: str
    noun: str  # "event", "write"
    queue: Callable[[Store], LeasedQueue]
    dead_line: Callable[[dict], str]
    replay_note: str = ""


def open_store() -> Store:
    settings = settings_or_exit()
    store = Store(settings.db_path, settings.db_busy_timeout_ms)
    store.upgrade()
    return store


def queue_group(spec: QueueCommands) -> click.Group:
    """A command group with `status` (the default), `dead` and `replay` for the queue."""

    @click.group(spec.name, invoke_without_command=True, help=spec.help)
    @click.pass_context
    def group(ctx: click.Context) -> None:
        if ctx.invoked_subcommand is None:
            ctx.invoke(status)

    @group.command()
    def status() -> None:
        """Count items by status."""
        for name, count in spec.queue(open_store()).counts().items():
            click.echo(f"{name:<11}{count:>9}")

    status.help = f"Count {spec.noun}s by status."

    @group.command()
    @click.option("--limit", default=50, show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="machine-readable output")
    def dead(limit: int, as_json: bool) -> None:
        rows = spec.queue(open_store()).items("dead", limit=limit, newest_first=False)
        if as_json:
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        if not rows:
            click.echo("no dead letters")
        for row in rows:
            click.echo(f"#{row['id']} {spec.dead_line(row)} attempts={row['attempts']}\n    {row['last_error']}")

    dead.help = f"List dead letters: {spec.noun}s given up, with the last error."

    @group.command()
    @click.argument("ids", nargs=-1, type=int)
    @click.option("--all", "replay_all", is_flag=True, help="replay every dead letter")
    def replay(ids: tuple[int, ...], replay_all: bool) -> None:
        if bool(ids) == replay_all:
            raise click.UsageError(f"give {spec.noun} ids or --all (not both)")
        count = spec.queue(open_store()).replay(None if replay_all else ids, utcnow())
        click.echo(f"{count} {spec.noun}(s) queued again{spec.replay_note}")
        if ids and count < len(ids):
            click.echo(f"some ids were not dead letters (or are covered by a waiting retry); see "
                       f"`bridge {spec.name} dead`", err=True)

    replay.help = "Queue dead letters again, by id or --all, with a fresh start (retried for BRIDGE_RETRY_HOURS)."
    return group


def _outbox_line(row: dict) -> str:
    fields = f" fields={', '.join(json.loads(row['fields']))}" if row["fields"] else ""
    return f"{row['kind']} {row['target']} lead={row['lead_id']}{fields}"


INBOX = QueueCommands("inbox", "Inbox events: counts by status (default), dead letters, rejected deliveries, replay.",
                      "event", lambda store: store.inbox,
                      lambda row: f"{row['source']} {row['event_type']} {row['record_key']}")
OUTBOX = QueueCommands("outbox", "Writes (Salesforce/kintone upserts, HubSpot write-backs, notices): counts, dead "
                       "letters, replay.", "write", lambda store: store.outbox, _outbox_line,
                       "; the running worker sends them with the current mappings")
inbox = queue_group(INBOX)
outbox = queue_group(OUTBOX)


@inbox.command("rejected")
@click.option("--limit", default=20, show_default=True)
def inbox_rejected(limit: int) -> None:
    """List deliveries refused as malformed (400) or for an app not allowed (403), newest first."""
    rows = open_store().ingest.rejected(limit)
    if not rows:
        click.echo("no rejected deliveries")
    for row in rows:
        click.echo(f"#{row['id']} {row['received_at']} {row['source']}: {row['reason']} ({len(row['body'])} bytes)")
