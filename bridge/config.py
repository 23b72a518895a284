"""Settings from the environment and an optional `.env` file, validated at start-up with every problem listed."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from bridge.errors import ConfigError

TOKEN_HINT = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105
MIN_SECRET_LENGTH = 16


class EnvReader:
    """Reads typed settings from a mapping and collects problems instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.env.get(name, "").strip()
        return value or default

    def secret(self, name: str) -> str | None:
        """A shared secret or URL token: unset is allowed (the feature is off), short is not."""
        value = self.text(name)
        if value is not None and len(value) < MIN_SECRET_LENGTH:
            self.problems.append(
                f"{name} is {len(value)} characters; use at least {MIN_SECRET_LENGTH} ({TOKEN_HINT})"
            )
        return value

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r} is not a whole number")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            self.problems.append(f"{name}={value} must be at least {minimum}{upper}")
            return default
        return value

    def number(self, name: str, default: float, minimum: float = 0.0) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r} is not a number")
            return default
        if value < minimum:
            self.problems.append(f"{name}={value} must be at least {minimum}")
            return default
        return value

    def url(self, name: str, default: str | None = None) -> str | None:
        value = self.text(name, default)
        if value is not None and not value.startswith(("https://", "http://")):
            self.problems.append(f"{name}={value!r} must be a full URL starting with https://")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default)
        if value not in choices:
            self.problems.append(f"{name}={value!r} must be one of: {', '.join(choices)}")
            return default
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        self.problems.append(f"{name}={raw!r} must be true or false")
        return default

    def id_list(self, name: str) -> frozenset[str]:
        raw = self.text(name, "")
        ids = [part.strip() for part in raw.split(",") if part.strip()]
        bad = [i for i in ids if not i.isdigit()]
        if bad:
            self.problems.append(f"{name} must be comma-separated numeric ids; not ids: {', '.join(bad)}")
        return frozenset(i for i in ids if i.isdigit())

    def require_together(self, *names: str) -> None:
        """Settings that only make sense as a group: all set or none."""
        given = [n for n in names if self.text(n)]
        if given and len(given) != len(names):
            missing = [n for n in names if n not in given]
            self.problems.append(f"{', '.join(given)} is set, so {', '.join(missing)} must be set too")


@dataclass(frozen=True)
class WorkerSettings:
    max_attempts: int = 10
    lease_seconds: int = 60
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 3600.0
    poll_seconds: float = 0.2
    batch_size: int = 100
    #: How long a write or an evaluation may wait for its batch to fill: a burst of 500 handoffs then
    #: costs three Salesforce calls instead of a call per lead, for at most this much latency.
    linger_seconds: float = 0.3
    slack_webhook_url: str | None = field(default=None, repr=False)  # handoff notices; a log line when unset


@dataclass(frozen=True)
class Settings:
    db_path: Path
    db_busy_timeout_ms: int
    mappings_dir: Path
    api_token: str | None
    environment: str
    log_level: str
    worker: WorkerSettings
    proxies: int = 0  # reverse proxies in front of Bridge whose X-Forwarded-For is trusted
    admin_password: str | None = field(default=None, repr=False)  # admin pages off when unset
    secret_key: str | None = field(default=None, repr=False)  # signs admin session cookies
    connectors: dict[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

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


def load_settings(environ: Mapping[str, str] | None = None, dotenv: str | Path | None = ".env") -> Settings:
    """Build and validate the settings; raise ConfigError listing every problem at once."""
    from connectors.registry import load_connectors  # connectors validate their own settings

    env = read_environment(environ, dotenv)
    read = EnvReader(env)
    settings = Settings(
        db_path=Path(read.text("BRIDGE_DB", "bridge.db")),
        db_busy_timeout_ms=read.integer("BRIDGE_DB_BUSY_TIMEOUT_MS", 5000, minimum=1),
        mappings_dir=Path(read.text("BRIDGE_MAPPINGS", "mappings")),
        api_token=read.secret("BRIDGE_API_TOKEN"),
        environment=read.choice("BRIDGE_ENV", "production", ("production", "development")),
        log_level=read.choice("BRIDGE_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
        worker=WorkerSettings(
            max_attempts=read.integer("BRIDGE_MAX_ATTEMPTS", 10, minimum=1, maximum=100),
            lease_seconds=read.integer("BRIDGE_LEASE_SECONDS", 60, minimum=5),
            retry_base_seconds=read.number("BRIDGE_RETRY_BASE_SECONDS", 5.0, minimum=0.0),
            retry_max_seconds=read.number("BRIDGE_RETRY_MAX_SECONDS", 3600.0, minimum=1.0),
            poll_seconds=read.number("BRIDGE_POLL_SECONDS", 0.2, minimum=0.01),
            linger_seconds=read.integer("BRIDGE_BATCH_LINGER_MS", 300, minimum=0, maximum=60_000) / 1000,
            slack_webhook_url=read.url("SLACK_WEBHOOK_URL"),
        ),
        proxies=read.integer("BRIDGE_PROXIES", 0, minimum=0, maximum=5),
        admin_password=read.secret("BRIDGE_ADMIN_PASSWORD"),
        secret_key=read.secret("BRIDGE_SECRET_KEY"),
        env=env,
    )
    connectors, connector_problems = load_connectors(env)
    problems = read.problems + connector_problems
    parent = settings.db_path.resolve().parent
    if not parent.is_dir():
        problems.append(
            f"BRIDGE_DB={settings.db_path}: folder {parent} does not exist; create it or point BRIDGE_DB elsewhere"
        )
    if problems:
        raise ConfigError(problems)
    settings.connectors.update(connectors)
    return settings
