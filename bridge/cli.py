"""The `bridge` command: serve, worker, init, db, inbox, outbox."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

import click

from bridge import connectors_cli
from bridge.calendar_cli import calendar
from bridge.config import SHIPPED_MAPPINGS, Settings, settings_or_exit
from bridge.demo import demo
from bridge.kernel.clock import utcnow
from bridge.mapping.problems import MappingError
from bridge.mappings_cli import mappings
from bridge.queue_cli import inbox, open_store, outbox
from bridge.reconcile_cli import reconcile
from bridge.retention import PRUNE_ACTION, prune
from bridge.store import Store
from connectors.sandbox.cli import sandbox


def _store(settings: Settings) -> Store:
    store = Store(settings.db_path, settings.db_busy_timeout_ms)
    store.upgrade()
    return store


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bridge")
def main() -> None:
    """Bridge: verified webhooks from HubSpot, Salesforce and kintone into a durable inbox, and the worker
    that processes them. Settings come from the environment and a .env file (see README)."""


def run_worker(stop: threading.Event | None = None, once: bool = False, supervised_by: int | None = None,
               lanes: str | None = None) -> None:
    """Worker loop with SIGTERM/SIGINT handled as a graceful stop (finish the current event, then exit).

    `supervised_by`: the pid of the `bridge serve` that started this worker; its end, even by kill -9,
    stops this worker the same graceful way, so none is left behind."""
    if supervised_by is not None:
        from bridge.supervisor import die_with_parent

        die_with_parent(supervised_by, signal.SIGTERM)
    from bridge import logs
    from bridge.services import build_services
    from bridge.worker.run import Worker

    settings = settings_or_exit()
    logs.configure(settings.log_level, settings.log_format)
    try:
        services = build_services(settings)
        worker = Worker(settings, services.store, services.connectors, services.clock, drain=once, lanes=lanes)
    except MappingError as error:
        click.echo(f"Bridge cannot start: {error}\nFix the files, then check with `bridge mappings check`.", err=True)
        sys.exit(2)
    except ValueError as error:  # --lanes names no lane there is
        click.echo(f"Error: --lanes: {error}", err=True)
        sys.exit(2)
    if once:
        worker.drain()
        return
    stop = stop or threading.Event()
    stop_on_signals(stop, (signal.SIGTERM, signal.SIGINT))
    worker.run(stop)


def stop_on_signals(stop: threading.Event, signums: Sequence[int]) -> None:
    """Set `stop` when any of `signums` arrives, without taking a lock inside the signal handler.

    Python runs a handler in the main thread between two steps of whatever it was doing, and that may be
    `stop.wait()` holding the Event's lock: a handler calling `stop.set()` there waits for itself forever. Ctrl-C
    and `bridge serve`'s SIGTERM often arrive together, so a second handler running inside the first one's
    `set()` did exactly that: the worker hung and was left behind. The handler only writes a byte to a pipe
    (no lock); a thread reading the pipe sets `stop` in ordinary code."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # the handler must never wait, even if 64 KiB of signals were unread

    def watch() -> None:
        os.read(read_end, 1)
        stop.set()

    def handle(*_: object) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(write_end, b"\0")

    threading.Thread(target=watch, name="signals", daemon=True).start()
    for signum in signums:
        signal.signal(signum, handle)


def _share_metrics_between_processes() -> None:
    """Give gunicorn's workers one folder for their counters, so /metrics adds up every process.

    prometheus_client chooses where a counter keeps its value when the library is imported, from
    PROMETHEUS_MULTIPROC_DIR: set later, each worker counts in its own memory and /metrics shows none of it.
    https://prometheus.github.io/client_python/multiprocess/
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return  # the operator's own (empty) folder, set before this process started
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set; "
                           "import bridge.app only inside the commands that need it")
    folder = tempfile.mkdtemp(prefix="bridge-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:  # forked web workers run atexit too; only this process removes the folder
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)


@main.command()
@click.option("--bind", default=None, help="host:port to listen on [default: $BRIDGE_BIND or 127.0.0.1:8000]")
@click.option("--workers", type=int, default=None,
              help="web worker processes [default: $BRIDGE_WEB_WORKERS or 2]")
@click.option("--no-worker", is_flag=True, help="serve HTTP only; run `bridge worker` separately")
def serve(bind: str | None, workers: int | None, no_worker: bool) -> None:
    """Run the web server (gunicorn) and the inbox worker: the embedded default for one machine."""
    from bridge.live import LiveMappings

    settings = settings_or_exit()
    try:
        LiveMappings(settings)  # refuse to start, before forking anything, when a mapping is broken
    except MappingError as error:
        click.echo(f"Bridge cannot start: {error}\nFix the files, then check with `bridge mappings check`.", err=True)
        sys.exit(2)
    _store(settings)  # migrate once, before any process starts
    _share_metrics_between_processes()  # before anything imports prometheus_client (bridge.app does)

    from gunicorn.app.base import BaseApplication

    from bridge import gunicorn_conf, logs
    from bridge.app import create_app
    from bridge.supervisor import Supervised, SupervisingArbiter

    options = {k: getattr(gunicorn_conf, k) for k in dir(gunicorn_conf) if not k.startswith("_") and k != "os"}
    options.update(bind=settings.web.bind, workers=settings.web.workers, threads=settings.web.threads)
    if bind:
        options["bind"] = bind
    if workers:
        options["workers"] = workers

    logs.configure(settings.log_level, settings.log_format)  # this process logs the worker's deaths
    companions: list = []
    if not no_worker:
        # A separate process (not a fork): no threads or database handles are shared with gunicorn. The
        # arbiter restarts it with back-off when it dies, and it stops when this process ends, however.
        # Two by default: the writes to each system in a process of their own, so the intake and the writes
        # never queue for one interpreter lock (BRIDGE_WORKER_PROCESSES=1: one process runs every lane).
        command = [sys.executable, "-m", "bridge", "worker", "--supervised-by", str(os.getpid())]
        companions = [Supervised("worker", command)] if settings.worker.processes == 1 else [
            Supervised(f"worker ({lanes})", [*command, "--lanes", lanes]) for lanes in ("intake", "writes")]

    class Server(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return create_app(settings)

        def run(self):
            try:
                SupervisingArbiter(self, companions).run()
            except RuntimeError as error:  # as gunicorn's own run(): a configuration it refuses
                click.echo(f"Error: {error}", err=True)
                sys.exit(1)

    Server().run()


@main.command()
@click.option("--once", is_flag=True, help="drain what is due now, then exit (for cron or tests)")
@click.option("--supervised-by", type=int, default=None, hidden=True, help="pid of the `bridge serve` that started it")
@click.option("--lanes", default=None, help="run only these lanes: `intake` (inbox, evaluation, timers), `writes` "
              "(one per system), or lane names, comma-separated [default: all]")
def worker(once: bool, supervised_by: int | None, lanes: str | None) -> None:
    """Run the worker only (production: beside gunicorn serving wsgi:app)."""
    run_worker(once=once, supervised_by=supervised_by, lanes=lanes)


main.add_command(connectors_cli.connectors)
main.add_command(mappings)
main.add_command(sandbox, name="sandbox")
main.add_command(demo)
main.add_command(inbox)
main.add_command(outbox)
main.add_command(calendar)
main.add_command(reconcile)


@main.command()
@click.argument("folder", default="mappings", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="overwrite mapping files that already exist in FOLDER")
def init(folder: Path, force: bool) -> None:
    """Write an editable copy of the default mappings (routes and handoff rules) to FOLDER [default: ./mappings].

    Without it Bridge reads the defaults inside the package, which cannot be edited."""
    shipped = sorted(SHIPPED_MAPPINGS.glob("*.yaml"))
    existing = [str(folder / path.name) for path in shipped if (folder / path.name).exists()]
    if existing and not force:
        raise click.ClickException(
            f"{', '.join(existing)} already exist(s); nothing was written. Keep your files, or run "
            f"`bridge init {folder} --force` to replace them with the defaults.\n"
            "既にファイルがあるため、何も書き込んでいません。上書きする場合は --force を付けてください。")
    folder.mkdir(parents=True, exist_ok=True)
    header = (f"# `bridge init` の初期設定 (Bridge {version('bridge')}) をコピーしました。自由に編集できます。\n"
              f"# Copied by `bridge init` from the defaults of Bridge {version('bridge')}; edit freely.\n")
    for path in shipped:
        (folder / path.name).write_text(header + path.read_text(encoding="utf-8"), encoding="utf-8")
    click.echo(f"Wrote {len(shipped)} file(s) to {folder}: {', '.join(p.name for p in shipped)}")
    setting = None if folder.resolve() == Path("mappings").resolve() else f"BRIDGE_MAPPINGS={folder.resolve()}"
    configured = f"{setting} " if setting else ""
    where = (f"   Set {setting} in the environment or .env / 環境変数か .env に {setting} を設定します。" if setting
             else "   Bridge started in this folder reads ./mappings / このフォルダで起動すると ./mappings を読みます")
    click.echo("\n".join([
        "Next / 次に:",
        "1. Edit the files: the comments at the top of each explain the format (README: Field mappings).",
        "   ファイルを編集します。各ファイル冒頭のコメントに書き方があります。",
        f"2. Check them / 確認します:  {configured}bridge mappings check",
        f"3. Start Bridge / 起動します:  {configured}bridge serve",
        where,
    ]))


@main.group()
def db() -> None:
    """Database schema and retention."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations to BRIDGE_DB."""
    settings = settings_or_exit()
    applied = Store(settings.db_path, settings.db_busy_timeout_ms).upgrade()
    click.echo(f"applied: {', '.join(applied)}" if applied else f"{settings.db_path} is up to date")


@db.command("prune")
def db_prune() -> None:
    """Remove done inbox events older than BRIDGE_RETAIN_INBOX_DAYS (30) and rejected deliveries older than
    BRIDGE_RETAIN_REJECTED_DAYS (90); dead letters and unfinished events stay. The worker runs this daily."""
    settings = settings_or_exit()
    store, now = open_store(), utcnow()
    pruned = prune(store, settings.retention, now)
    store.admin.audit("cli", PRUNE_ACTION, None, pruned.text(), now)
    click.echo(pruned.text())
