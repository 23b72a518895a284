"""The worker's heartbeat: a stamp in the database every few seconds, which /readyz reads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bridge.store import Store

#: One write every few seconds, not one per loop (an idle loop turns five times a second).
BEAT_EVERY = timedelta(seconds=5)


class Heartbeat:
    """Stamps `owner`'s heartbeat, naming the lanes it runs, when the last stamp is older than BEAT_EVERY."""

    def __init__(self, store: Store, owner: str, clock: Callable[[], datetime], lanes: Sequence[str] = ()):
        self.store, self.owner, self.clock, self.lanes = store, owner, clock, tuple(lanes)
        self.started_at = clock()
        self._last: datetime | None = None

    def register(self) -> None:
        self.store.health.register(self.owner, self.started_at, self.clock(), self.lanes)

    def beat(self) -> None:
        now = self.clock()
        if self._last is not None and now - self._last < BEAT_EVERY:
            return
        self.store.health.beat(self.owner, self.started_at, now, self.lanes)
        self._last = now
