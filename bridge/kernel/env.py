"""Typed settings read from an environment mapping, every problem collected instead of stopping at the first."""

from __future__ import annotations

import math
from collections.abc import Mapping

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
        if not math.isfinite(value):  # float() reads nan and inf, and nan passes every comparison below
            self.problems.append(f"{name}={raw!r} is not a finite number")
            return default
        if value < minimum:
            self.problems.append(f"{name}={value} must be at least {minimum}")
            return default
        return value

    def url(self, name: str, default: str | None = None, secret: bool = False) -> str | None:
        """A URL; `secret` for one that is itself a credential (a Slack webhook): a problem never shows it."""
        value = self.text(name, default)
        if value is not None and not value.startswith(("https://", "http://")):
            shown = name if secret else f"{name}={value!r}"
            self.problems.append(f"{shown} must be a full URL starting with https://")
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

    def bind(self, name: str, default: str) -> str:
        """A gunicorn listen address: HOST:PORT ([::1]:PORT for IPv6) or unix:PATH."""
        value = self.text(name, default)
        host, _, port = value.rpartition(":")
        if value.startswith("unix:") and len(value) > 5:
            return value
        if not host or not port.isdigit() or int(port) > 65535:
            self.problems.append(f"{name}={value!r} must be HOST:PORT (e.g. 127.0.0.1:8000, 0.0.0.0:8000) "
                                 "or unix:/path/to/socket")
            return default
        return value

    def retention_days(self, name: str, default: int, minimum: int) -> int:
        """Days to keep finished rows: 0 keeps them forever, otherwise at least `minimum`."""
        days = self.integer(name, default, minimum=0, maximum=36_500)
        if 0 < days < minimum:
            self.problems.append(f"{name}={days}: use 0 (keep forever) or at least {minimum} days")
            return default
        return days

    def require_together(self, *names: str) -> None:
        """Settings that only make sense as a group: all set or none."""
        given = [n for n in names if self.text(n)]
        if given and len(given) != len(names):
            missing = [n for n in names if n not in given]
            self.problems.append(f"{', '.join(given)} is set, so {', '.join(missing)} must be set too")
