"""The worker's heartbeat: a stamp in the database every few seconds, which /readyz reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bridge.store import Store

#: One write every few seconds, not one per loop (an idle loop turns five times a second).
BEAT_EVERY = timedelta(seconds=5)


class Heartbeat:
    """Stamps `owner`'s heartbeat when the last stamp is older than BEAT_EVERY."""

    def __init__(self, store: Store, owner: str, clock: Callable[[], datetime]):
        self.store, self.owner, self.clock = store, owner, clock
        self.started_at = clock()
        self._last: datetime | None = None

    def beat(self) -> None:
        now = self.clock()
        if self._last is not None and now - self._last < BEAT_EVERY:
            return
        self.store.health.beat(self.owner, self.started_at, now)
        self._last = now
