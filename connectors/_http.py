"""HTTP plumbing for connectors: one session, one counted attempt per call, budgets, pauses, status → error.

Nothing here sleeps or sends a request twice: a 429, a 5xx, a timeout or a lost connection is raised for the
caller to reschedule (RateLimited / Transient carry the system's Retry-After). A lost connection is not re-sent
even at once: requests cannot tell a kept-alive connection the server had closed before our request from one
it closed after applying it, and the caller's retry costs one backoff at worst.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from bridge.kernel.budget import Budget, Limit
from bridge.kernel.clock import Clock
from bridge.kernel.errors import AuthError, ConnectorError, Paused, Permanent, RateLimited, Transient

log = logging.getLogger(__name__)
Item = TypeVar("Item")

#: (connect, read) seconds. Salesforce counts requests over 20 s as long-running; 60 s leaves room.
TIMEOUT = (5.0, 60.0)


class Http:
    """One session per connector. `send` spends from the budget, counts, makes one attempt and returns the
    response whatever its status; the connector maps a failed status to an error."""

    def __init__(self, connector: str, clock: Clock, budget: Budget):
        self.connector = connector
        self.clock = clock
        self.budget = budget
        self.session = requests.Session()
        #: Requests sent, per endpoint label (token requests included).
        self.calls: Counter[str] = Counter()
        self.paused_until: datetime | None = None
        self.pause_reason = ""

    def pause(self, until: datetime, reason: str) -> Paused:
        """Make no call until `until`; returns the error to raise now."""
        self.paused_until, self.pause_reason = until, reason
        log.warning("%s paused until %s: %s", self.connector, until.isoformat(timespec="seconds"), reason)
        return Paused(self.connector, reason, until=until)

    def send(
        self, method: str, url: str, endpoint: str, *, pool: str, limit: Limit | None, **kwargs: Any
    ) -> requests.Response:
        """Refuse while paused, spend one call of `pool` (RateLimited when none is left), count, send once."""
        now = self.clock()
        if self.paused_until is not None:
            if now < self.paused_until:
                raise Paused(self.connector, self.pause_reason, until=self.paused_until)
            self.paused_until = None
        self.budget.take(self.connector, pool, limit, now)
        self.calls[endpoint] += 1
        try:
            return self.session.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.Timeout:
            raise Transient(self.connector, f"{endpoint}: timed out") from None
        except requests.ConnectionError:
            raise Transient(self.connector, f"{endpoint}: could not connect") from None


def retry_after_seconds(response: requests.Response, now: datetime) -> float | None:
    """The Retry-After header (a number or an HTTP date) as seconds, or None when absent."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None


def error_for_status(
    connector: str,
    response: requests.Response,
    now: datetime,
    *,
    message: str,
    code: str | None = None,
    fields: tuple[str, ...] = (),
    auth_setting: str | None = None,
) -> ConnectorError:
    """The generic meaning of an HTTP error status; connectors handle their own codes first."""
    status = response.status_code
    wait = retry_after_seconds(response, now)
    # Method and path only: query strings may carry record data.
    message = f"{response.request.method} {urlsplit(response.url).path}: {message}"
    if status == 401:
        return AuthError(
            connector,
            f"credentials rejected (HTTP 401): {message}" + (f"; check {auth_setting}" if auth_setting else ""),
            setting=auth_setting,
            code=code,
            status=status,
        )
    if status == 403:
        return AuthError(
            connector, f"no permission (HTTP 403): {message}", setting=auth_setting, code=code, status=status
        )
    if status == 429:
        return RateLimited(
            connector, f"rate limited (HTTP 429): {message}", retry_after=wait or 1.0, code=code, status=status
        )
    if status in (408, 477) or status >= 500:
        return Transient(connector, f"HTTP {status}: {message}", retry_after=wait, code=code, status=status)
    return Permanent(connector, f"HTTP {status}: {message}", fields=fields, code=code, status=status)


def chunks(items: Sequence[Item], size: int) -> list[Sequence[Item]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def json_object(response: requests.Response) -> dict[str, Any]:
    """The body as a JSON object, or {} when it is empty, not JSON, or not an object."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def require_keys(connector: str, records: Sequence[Mapping[str, Any]], key_field: str) -> list[str]:
    """Each record's upsert key as text; a record without one makes the whole call invalid."""
    missing = [i for i, r in enumerate(records) if r.get(key_field) in (None, "")]
    if missing:
        raise Permanent(
            connector, f"records {missing[:10]} have no value for the upsert key {key_field}", fields=(key_field,)
        )
    return [str(r[key_field]) for r in records]
