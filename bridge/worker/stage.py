"""What every worker stage is, and how a failed queue item is settled: postponed, retried or buried, by time."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from bridge.kernel.errors import BridgeError
from bridge.store import LeasedQueue
from bridge.worker.retry import RetryPolicy, Step, failed_for, next_step

log = logging.getLogger(__name__)


class Stage(Protocol):
    """One kind of work the worker does over and over. `run_once` takes one batch (claimed under a lease),
    commits what it did, and returns how many items it took: 0 means idle. It never sleeps, and never waits
    for a remote system beyond one request: a retry is a due time in its queue."""

    name: str

    def run_once(self) -> int: ...


def describe(error: BaseException) -> str:
    """An error in one line for a queue item's last_error: the type when the message alone would be unclear."""
    text = str(error)
    plain = isinstance(error, BridgeError) or getattr(error, "plain", False)
    return text if plain else f"{type(error).__name__}: {text}"


def settle_failure(queue: LeasedQueue, item: Mapping[str, Any], owner: str, error: BaseException, now: datetime,
                   policy: RetryPolicy, fields: Sequence[str] = ()) -> Step:
    """Postpone (the system asked us to wait), retry at a back-off, or bury `item` after `error`, in the caller's
    unit of work; returns the step taken."""
    step = next_step(error, now, item.get("first_failed_at"), item.get("attempts", 0), policy)
    reason = describe(error)
    if step.action == "bury":
        queue.bury(item["id"], owner, now, f"{reason} ({failed_for(item.get('first_failed_at'), now)})", fields)
    else:
        queue.retry(item["id"], owner, now, step.at, reason, failed=step.failed, fields=fields)
    return step
