"""The catch-up poll: every BRIDGE_CATCHUP_SECONDS, the watched sales records changed since the last poll are read and
fed into the inbox as their webhooks would have been, for the changes whose webhook never came."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from itertools import islice

from bridge.config import ReconcileSettings
from bridge.feedback.events import lead_record_id
from bridge.kernel.budget import spending
from bridge.kernel.clock import iso, parse_iso
from bridge.kernel.errors import ConnectorError
from bridge.live import LiveMappings
from bridge.store import Store
from bridge.worker.feedback import feedback_fields
from connectors.base import Connector, InboxEvent

log = logging.getLogger(__name__)

#: How far before the last poll's start the next one reads again. kintone keeps times to the minute (its
#: changed_since starts at the minute's start), a record saved while the last poll ran may carry a time before that
#: poll started, and the systems' clocks are not ours: two minutes covers all three. A record read twice is one
#: event: its key names its version.
OVERLAP = timedelta(minutes=2)
CHUNK = 500  # records turned into events and added at a time (a kintone page): memory stays flat after an outage


def cursor_name(system: str, object: str) -> str:
    """Where the poll of one object got to (store.cursors): the start of its last poll that read to the end."""
    return f"catchup.{system}.{object}"


class CatchUpStage:
    """Polls, in a lane of its own, every object sales feedback watches and every object handoffs write to, of each
    system whose API is configured. Webhooks stay the fast path: a poll only fills their gaps (kintone drops the
    61st notification in a minute and sends none for CSV imports; Salesforce gives up an outbound message after
    24 hours)."""

    name = "catchup"

    def __init__(self, store: Store, mappings: LiveMappings, connectors: Mapping[str, Connector],
                 settings: ReconcileSettings, clock: Callable[[], datetime]):
        self.store, self.mappings, self.connectors, self.clock = store, mappings, connectors, clock
        self.interval = timedelta(seconds=settings.catchup_seconds)  # 0: off
        self._due: dict[str, datetime] = {}  # system -> its next poll (a restarted worker polls at once)

    def run_once(self) -> int:
        """Poll each system whose interval has come round; return how many new events were added."""
        if not self.interval:
            return 0
        now = self.clock()
        added = 0
        for system, objects in self._watched().items():
            if self._due.get(system, now) > now:
                continue
            self._due[system] = now + self.interval  # a failed poll waits for the next interval too
            added += self._poll(self.connectors[system], objects, now)
        return added

    def _watched(self) -> dict[str, list[str]]:
        """system -> objects to poll, of the systems whose API is configured."""
        found: dict[str, set[str]] = {}
        for route in self.mappings.targets():
            found.setdefault(route.target.system, set()).add(route.target.object)
        rules = self.mappings.feedback
        for object_rules in rules.objects if rules else ():
            if object_rules.object != "*":  # "*" is every object handoffs write to: the routes' targets above
                found.setdefault(object_rules.system, set()).add(object_rules.object)
        return {system: sorted(objects) for system, objects in sorted(found.items())
                if system in self.connectors and self.connectors[system].api_problem() is None}

    def _poll(self, connector: Connector, objects: list[str], now: datetime) -> int:
        added = 0
        for object in objects:
            stored = self.store.cursors.get(cursor_name(connector.name, object))
            since = (parse_iso(stored) if stored else now - self.interval) - OVERLAP
            try:
                with spending("feedback"):
                    fields = feedback_fields(self.mappings, connector.name, object)
                    records = connector.changed_since(object, since, fields)
                    for chunk in _chunks(records, CHUNK):
                        added += self._add(connector, object, chunk, now)
            except ConnectorError as error:
                if error.retriable:  # rate-limited, down or paused: the next interval reads from the same cursor
                    log.info("catch-up poll of %s stopped at %s, tried again in %s: %s", connector.name, object,
                             self.interval, error)
                    return added
                log.warning("catch-up poll of %s %s failed: %s", connector.name, object, error)
                continue
            self.store.cursors.set(cursor_name(connector.name, object), iso(now), self.clock())
        return added

    def _add(self, connector: Connector, object: str, records: list[dict], now: datetime) -> int:
        events = [event for record in records if (event := connector.polled_event(object, record, now)) is not None]
        events = self._storable(connector, events, now)
        unseen = self._unseen(connector, object, events)
        new = self.store.ingest.add_events(unseen, now) if unseen else 0
        if new:
            log.info("catch-up poll: %d %s %s change(s) not seen before, fed to the inbox", new, connector.name,
                     object)
        return new

    def _storable(self, connector: Connector, events: list[InboxEvent], now: datetime) -> list[InboxEvent]:
        """The events UTF-8 can store. A record holding a lone UTF-16 surrogate (half an emoji, as a webhook would
        be refused with 400 for) is kept in `rejected` with the reason, as its webhook would be, so it neither
        fails the records polled beside it nor stops the poll at that record for good."""
        storable = []
        for event in events:
            try:
                event.body.encode("utf-8")
            except UnicodeEncodeError:
                reason = (f"polled {event.record_key}: holds a lone UTF-16 surrogate (half of an emoji?), which "
                          "cannot be stored as UTF-8; fix the value in the record, then it is polled again")
                self.store.ingest.add_rejected(connector.name, reason, event.body.encode("utf-8", "backslashreplace"),
                                               "application/json", now)
                log.warning("catch-up poll: %s", reason)
                continue
            storable.append(event)
        return storable

    def _unseen(self, connector: Connector, object: str, events: list[InboxEvent]) -> list[InboxEvent]:
        """The events a webhook has not brought already, about a lead: a change of a lead's record newer than the
        newest version applied (one its webhook brought is applied once the inbox takes it), or a record that names
        a lead's record (a Task's WhoId). Other records' webhooks set nothing going either."""
        changes = {event.dedupe_key: connector.change_of(event.event_type, event.body, event.occurred_at)
                   for event in events}
        keys = [(connector.name, object, change.record_id) for change in changes.values()]
        applied = {row[2]: row[3] for row in self.store.leads.records_by_keys(keys)}
        rules = self.mappings.feedback
        unseen = []
        for event in events:
            change = changes[event.dedupe_key]
            if change.record_id in applied:
                version = applied[change.record_id]
                if version is None or change.version is None or change.version > version:
                    unseen.append(event)
                continue
            named = lead_record_id(rules, connector.name, object, change.fields) if rules else None
            if named and self.store.sales.find_record(connector.name, named) is not None:
                unseen.append(event)
        return unseen


def _chunks(records: Iterable[dict], size: int) -> Iterator[list[dict]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk
