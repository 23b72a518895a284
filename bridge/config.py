"""Settings from the environment and an optional `.env` file, validated at start-up with every problem listed."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from dotenv import dotenv_values

from bridge.kernel.env import TOKEN_HINT, EnvReader
from bridge.kernel.errors import ConfigError

#: One bearer token per API, each its own value: the website tag's token (public by nature) can neither
#: read lead data nor edit mappings, and a script that reads leads cannot change what Bridge sends.
API_TOKENS = {
    "activities": "BRIDGE_ACTIVITIES_TOKEN",  # POST /api/activities: website tag, webinar tool
    "leads": "BRIDGE_LEADS_TOKEN",  # /api/leads, /api/outbox (replay included): lead data
    "admin": "BRIDGE_ADMIN_TOKEN",  # /api/admin/...: mappings and the audit log
}
#: The one token every API used to share; refused at start-up so no deployment keeps an all-powerful token.
RETIRED_API_TOKEN = "BRIDGE_API_TOKEN"  # noqa: S105
#: Every setting that holds a credential, a password or a key: never echoed, never a mapping placeholder.
SECRET_SETTINGS = (
    *API_TOKENS.values(), "BRIDGE_ADMIN_PASSWORD", "BRIDGE_SECRET_KEY", "SLACK_WEBHOOK_URL",
    "HUBSPOT_CLIENT_SECRET", "HUBSPOT_ACCESS_TOKEN", "HUBSPOT_REFRESH_TOKEN",
    "SALESFORCE_CLIENT_SECRET", "SALESFORCE_WEBHOOK_TOKEN", "KINTONE_API_TOKEN", "KINTONE_WEBHOOK_TOKEN",
)
#: The default mappings inside the installed package: bridge/default_mappings links to the top-level mappings/
#: folder of the source tree, so a wheel ships them and there is one copy to keep. Read-only: `bridge init`
#: copies them to a folder an admin may edit.
SHIPPED_MAPPINGS = Path(__file__).resolve().parent / "default_mappings"


@dataclass(frozen=True)
class WorkerSettings:
    #: How long a failing item is retried before it becomes a dead letter (a rate limit does not count).
    retry_hours: float = 24.0
    #: How long a claimed item is reserved; longer than any one request (connect 5 s + read 60 s) may take.
    lease_seconds: int = 120
    #: The first retry's delay (then doubled per failure, with jitter): a transient 503 or a lost answer is
    #: usually gone within a second, and items failing for longer back off to the cap soon enough.
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 3600.0
    poll_seconds: float = 0.2
    batch_size: int = 100
    #: How long a write or an evaluation may wait for its batch to fill: a burst of 500 handoffs then
    #: costs three Salesforce calls instead of a call per lead, for at most this much latency.
    linger_seconds: float = 0.3
    slack_webhook_url: str | None = field(default=None, repr=False)  # handoff notices; a log line when unset
    #: Worker processes `bridge serve` runs: 2 puts the writes to each system (one thread per system) in a
    #: process of their own, beside the intake (inbox, evaluation, timers), so the two never queue for one
    #: interpreter lock; 1 runs every lane in one process (a machine with one core).
    processes: int = 2


@dataclass(frozen=True)
class WebSettings:
    """How `bridge serve` and `gunicorn -c python:bridge.gunicorn_conf` listen (BRIDGE_BIND, BRIDGE_WEB_*)."""

    bind: str = "127.0.0.1:8000"
    workers: int = 2
    #: Threads per process. A stalled upload holds one until the read timeout: 64 keep 50 stalled clients
    #: on one process from starving webhooks. Idle threads cost little (README: Slow clients).
    threads: int = 64
    #: Seconds a client has to send its request head, and then its body, before it is answered 408.
    read_timeout: float = 10.0


@dataclass(frozen=True)
class RetentionSettings:
    """How long finished rows are kept before `bridge db prune` (run daily by the worker) removes them; 0: forever."""

    inbox_days: int = 30  # done inbox events, with their normalised changes
    rejected_days: int = 90  # bodies of refused deliveries
    #: The refused bodies kept per source, in MB: past it a refused body is kept cut to its first 4 KiB (the
    #: activities token is public, so anyone could otherwise fill the disk with malformed bodies).
    rejected_max_mb: int = 100


@dataclass(frozen=True)
class ReadinessSettings:
    """What /readyz asks for beyond a reachable database (BRIDGE_MIN_FREE_MB, BRIDGE_WORKER_STALE_SECONDS)."""

    min_free_mb: int = 100  # free space on the disk holding BRIDGE_DB
    #: The newest worker heartbeat must be younger than this; 0 turns the check off. A worker loop that
    #: waits on a slow remote (60 s read timeout, retries) can take minutes, so not much less than 120.
    worker_stale_seconds: int = 120


#: Each system's daily API allowance a reconciliation may take its share of, until the admin says otherwise
#: (BRIDGE_RECONCILE_DAILY_CALLS): HubSpot Free/Starter 250,000 a day; a Salesforce Enterprise org's 100,000 base;
#: kintone 10,000 per app (Standard course). ../shared/reference/api-facts.md has the sources.
DAILY_CALLS = {"hubspot": 250_000, "salesforce": 100_000, "kintone": 10_000}


@dataclass(frozen=True)
class ReconcileSettings:
    """The nightly reconciliation (`bridge reconcile`, BRIDGE_RECONCILE_*) and the kintone catch-up poll."""

    schedule: str | None = "0 2 * * *"  # cron, in `zone`; None: the worker never runs it (cron or systemd may)
    zone: str = "Asia/Tokyo"
    full_every_days: int = 7  # an incremental run becomes a full one when the last full one is this old
    max_change: float = 0.05  # a plan changing more than this share of the records compared is refused (--force)
    daily_share: float = 0.10  # of each system's daily API allowance, at most this much per run
    daily_calls: Mapping[str, int] = field(default_factory=lambda: dict(DAILY_CALLS))
    overlap_minutes: int = 10  # an incremental run reads from the last run's start, less this much
    catchup_seconds: int = 300  # the kintone / Salesforce catch-up poll's interval; 0: off


@dataclass(frozen=True)
class Settings:
    db_path: Path
    db_busy_timeout_ms: int
    mappings_dir: Path
    environment: str
    log_level: str
    worker: WorkerSettings
    proxies: int = 0  # reverse proxies in front of Bridge whose X-Forwarded-For is trusted
    log_format: str = "text"  # or "json": one JSON object per line, for log shippers
    admin_password: str | None = field(default=None, repr=False)  # admin pages off when unset
    secret_key: str | None = field(default=None, repr=False)  # signs admin session cookies
    #: The bearer token of each API in API_TOKENS ("activities", "leads", "admin"); an API is off without one.
    api_tokens: Mapping[str, str | None] = field(default_factory=dict, repr=False)
    #: The environment as read (with .env): connectors read their own settings from it (bridge/services.py).
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: True when no mappings folder was configured or found, so the shipped defaults are used (read-only).
    mappings_shipped: bool = False
    web: WebSettings = field(default_factory=WebSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    readiness: ReadinessSettings = field(default_factory=ReadinessSettings)
    reconcile: ReconcileSettings = field(default_factory=ReconcileSettings)

    @property
    def development(self) -> bool:
        return self.environment == "development"


def read_environment(environ: Mapping[str, str] | None = None, dotenv: str | Path | None = ".env") -> dict[str, str]:
    """Merge `.env` (when present) under the real environment: a variable set in the shell wins."""
    merged: dict[str, str] = {}
    if dotenv is not None and Path(dotenv).is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return merged


def settings_or_exit() -> Settings:
    """The settings for a command; on a problem, print every one and exit with status 2."""
    try:
        return load_settings()
    except ConfigError as error:
        print(error, file=sys.stderr)
        sys.exit(2)


def check_credentials(read: EnvReader) -> None:
    """Each credential serves one purpose: refuse the retired all-API token, and an API token whose value is
    also another token, the admin password or any other secret setting (the problem names settings, never values)."""
    if read.text(RETIRED_API_TOKEN):
        replacements = ", ".join(f"{name} for /api/{api}" for api, name in API_TOKENS.items())
        read.problems.append(
            f"{RETIRED_API_TOKEN} is no longer used: one token for every API let the website tag read leads and "
            f"edit mappings. Remove it and set one token per purpose, each its own value: {replacements} "
            f"({TOKEN_HINT})"
        )
    tokens = tuple(API_TOKENS.values())
    for index, name in enumerate(SECRET_SETTINGS):
        value = read.text(name)
        for other in SECRET_SETTINGS[index + 1:]:
            if value and (name in tokens or other in tokens) and read.text(other) == value:
                read.problems.append(
                    f"{name} and {other} hold the same value; each credential serves one purpose, so give "
                    f"{other if other in tokens else name} its own ({TOKEN_HINT})"
                )


def mappings_folder(configured: str | None) -> tuple[Path, bool]:
    """Where the mappings are read from, and whether that is the shipped defaults. In order: BRIDGE_MAPPINGS
    when set; else ./mappings when that folder exists; else the defaults inside the package (read-only)."""
    if configured:
        return Path(configured), False
    if Path("mappings").is_dir():
        return Path("mappings"), False
    return SHIPPED_MAPPINGS, True


def load_settings(environ: Mapping[str, str] | None = None, dotenv: str | Path | None = ".env") -> Settings:
    """Build and validate the settings; raise ConfigError listing every problem at once."""
    from connectors.registry import load_connectors  # connectors validate their own settings

    env = read_environment(environ, dotenv)
    read = EnvReader(env)
    mappings_dir, mappings_shipped = mappings_folder(read.text("BRIDGE_MAPPINGS"))
    settings = Settings(
        db_path=Path(read.text("BRIDGE_DB", "bridge.db")),
        db_busy_timeout_ms=read.integer("BRIDGE_DB_BUSY_TIMEOUT_MS", 5000, minimum=1),
        mappings_dir=mappings_dir,
        mappings_shipped=mappings_shipped,
        api_tokens={api: read.secret(name) for api, name in API_TOKENS.items()},
        environment=read.choice("BRIDGE_ENV", "production", ("production", "development")),
        log_level=read.choice("BRIDGE_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
        log_format=read.choice("BRIDGE_LOG_FORMAT", "text", ("text", "json")),
        worker=WorkerSettings(
            retry_hours=read.number("BRIDGE_RETRY_HOURS", 24.0, minimum=0.001),
            lease_seconds=read.integer("BRIDGE_LEASE_SECONDS", 120, minimum=5),
            retry_base_seconds=read.number("BRIDGE_RETRY_BASE_SECONDS", 1.0, minimum=0.0),
            retry_max_seconds=read.number("BRIDGE_RETRY_MAX_SECONDS", 3600.0, minimum=1.0),
            poll_seconds=read.number("BRIDGE_POLL_SECONDS", 0.2, minimum=0.01),
            linger_seconds=read.integer("BRIDGE_BATCH_LINGER_MS", 300, minimum=0, maximum=60_000) / 1000,
            slack_webhook_url=read.url("SLACK_WEBHOOK_URL", secret=True),
            processes=read.integer("BRIDGE_WORKER_PROCESSES", 2, minimum=1, maximum=2),
        ),
        proxies=read.integer("BRIDGE_PROXIES", 0, minimum=0, maximum=5),
        admin_password=read.secret("BRIDGE_ADMIN_PASSWORD"),
        secret_key=read.secret("BRIDGE_SECRET_KEY"),
        env=env,
        web=WebSettings(
            bind=read.bind("BRIDGE_BIND", WebSettings.bind),
            workers=read.integer("BRIDGE_WEB_WORKERS", WebSettings.workers, minimum=1, maximum=64),
            threads=read.integer("BRIDGE_WEB_THREADS", WebSettings.threads, minimum=1, maximum=256),
            read_timeout=read.number("BRIDGE_READ_TIMEOUT_SECONDS", WebSettings.read_timeout, minimum=1.0),
        ),
        # Senders retry for up to 24 h (HubSpot, Salesforce): a done event is kept past that, so a late
        # retry is still recognised as a duplicate.
        retention=RetentionSettings(
            inbox_days=read.retention_days("BRIDGE_RETAIN_INBOX_DAYS", RetentionSettings.inbox_days, minimum=2),
            rejected_days=read.retention_days("BRIDGE_RETAIN_REJECTED_DAYS", RetentionSettings.rejected_days,
                                              minimum=1),
            rejected_max_mb=read.integer("BRIDGE_REJECTED_MAX_MB", RetentionSettings.rejected_max_mb, minimum=1),
        ),
        readiness=ReadinessSettings(
            min_free_mb=read.integer("BRIDGE_MIN_FREE_MB", ReadinessSettings.min_free_mb, minimum=0),
            worker_stale_seconds=read.integer("BRIDGE_WORKER_STALE_SECONDS", ReadinessSettings.worker_stale_seconds,
                                              minimum=0),
        ),
    )
    settings = replace(settings, reconcile=reconcile_settings(read))
    check_credentials(read)
    if read.text("BRIDGE_MAX_ATTEMPTS"):
        read.problems.append("BRIDGE_MAX_ATTEMPTS is no longer used: a failing item is retried for a time, not a "
                             "number of tries (a rate limit costs nothing); remove it, and set BRIDGE_RETRY_HOURS "
                             "(default 24) for another span")
    _, connector_problems = load_connectors(env)  # each connector checks its own settings: listed with ours
    problems = read.problems + connector_problems
    parent = settings.db_path.resolve().parent
    if not parent.is_dir():
        problems.append(
            f"BRIDGE_DB={settings.db_path}: folder {parent} does not exist; create it or point BRIDGE_DB elsewhere"
        )
    if problems:
        raise ConfigError(problems)
    return settings


def reconcile_settings(read: EnvReader) -> ReconcileSettings:
    """BRIDGE_RECONCILE_*: the schedule (a cron expression in BRIDGE_RECONCILE_ZONE, or "off"), the guardrail and
    the API share; every problem is added to `read.problems`."""
    zone = read.text("BRIDGE_RECONCILE_ZONE", ReconcileSettings.zone)
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        read.problems.append(f"BRIDGE_RECONCILE_ZONE={zone!r} is not a time zone; use an IANA name such as Asia/Tokyo")
        zone, tz = ReconcileSettings.zone, ZoneInfo(ReconcileSettings.zone)
    schedule = read.text("BRIDGE_RECONCILE_SCHEDULE", ReconcileSettings.schedule)
    if schedule and schedule.lower() in ("off", "none", "0"):
        schedule = None
    elif schedule:
        try:
            CronSim(schedule, datetime(2026, 1, 1, tzinfo=tz))
        except CronSimError as error:
            read.problems.append(f"BRIDGE_RECONCILE_SCHEDULE={schedule!r} is not a cron expression ({error}): give "
                                 "five fields, minute hour day month weekday, e.g. '0 2 * * *' for 02:00 daily, "
                                 "or 'off'")
            schedule = ReconcileSettings.schedule
    daily = dict(DAILY_CALLS)
    for part in (read.text("BRIDGE_RECONCILE_DAILY_CALLS") or "").split(","):
        system, _, calls = part.strip().partition("=")
        if not part.strip():
            continue
        if not calls.strip().isdigit() or int(calls) < 1:
            read.problems.append(f"BRIDGE_RECONCILE_DAILY_CALLS: {part.strip()!r} must be system=calls, e.g. "
                                 "salesforce=15000")
            continue
        daily[system.strip()] = int(calls)
    return ReconcileSettings(
        schedule=schedule,
        zone=zone,
        full_every_days=read.integer("BRIDGE_RECONCILE_FULL_EVERY_DAYS", ReconcileSettings.full_every_days, minimum=1),
        max_change=read.integer("BRIDGE_RECONCILE_MAX_CHANGE_PERCENT", 5, minimum=0, maximum=100) / 100,
        daily_share=read.integer("BRIDGE_RECONCILE_API_PERCENT", 10, minimum=1, maximum=100) / 100,
        daily_calls=daily,
        overlap_minutes=read.integer("BRIDGE_RECONCILE_OVERLAP_MINUTES", ReconcileSettings.overlap_minutes, minimum=0),
        catchup_seconds=read.integer("BRIDGE_CATCHUP_SECONDS", ReconcileSettings.catchup_seconds, minimum=0,
                                     maximum=300),
    )
