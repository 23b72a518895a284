"""The parts the web app, the worker and the commands share, built in one place: the store, the connectors
(from the registry, spending the store's shared API budget), the mappings in force, and one clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bridge.config import Settings
from bridge.kernel.clock import utcnow
from bridge.live import LiveMappings
from bridge.store import Store
from connectors.base import Connector
from connectors.registry import load_connectors


@dataclass
class Services:
    settings: Settings
    store: Store
    connectors: Mapping[str, Connector]
    #: The routes and handoff rules in force, loaded at start-up and reloaded when a file changes.
    mappings: LiveMappings
    #: The one source of "now"; tests pass a fixed clock (time is an input).
    clock: Callable[[], datetime] = field(default=utcnow)

    def activity_types(self) -> frozenset[str]:
        """The activity types the handoff rules in force score or count."""
        self.mappings.refresh()  # a few stat() calls; the YAML is parsed again only when a file changed
        return self.mappings.rules.activity_types


def build_services(settings: Settings, clock: Callable[[], datetime] = utcnow,
                   connectors: Mapping[str, Connector] | None = None) -> Services:
    """Open (and migrate) the store, build the connectors on its shared budget, load the mappings
    (MappingError when one is broken: nothing starts on a broken mapping)."""
    mappings = LiveMappings(settings)
    store = Store(settings.db_path, settings.db_busy_timeout_ms)
    store.upgrade()
    if connectors is None:
        connectors, _ = load_connectors(settings.env, clock=clock, budget=store.budget)
    return Services(settings=settings, store=store, connectors=connectors, mappings=mappings, clock=clock)
