"""The list of connectors: built-ins here, plug-ins from `bridge.connectors` entry points."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points

from bridge.kernel.budget import Budget, LocalBudget
from bridge.kernel.clock import Clock, utcnow
from bridge.kernel.env import EnvReader
from connectors.base import Connector
from connectors.hubspot import HubSpotConnector
from connectors.kintone import KintoneConnector
from connectors.salesforce import SalesforceConnector

BUILTIN: tuple[type[Connector], ...] = (HubSpotConnector, SalesforceConnector, KintoneConnector)
ENTRY_POINT_GROUP = "bridge.connectors"


def connector_classes() -> dict[str, type[Connector]]:
    """Built-in connectors plus any installed package's `bridge.connectors` entry points."""
    classes = {cls.name: cls for cls in BUILTIN}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        cls = entry.load()
        classes.setdefault(cls.name, cls)
    return classes


def load_connectors(
    env: Mapping[str, str], *, clock: Clock | None = None, budget: Budget | None = None
) -> tuple[dict[str, Connector], list[str]]:
    """Build every connector from the settings on one clock (None: utcnow) and one budget (None: a LocalBudget
    they share); return them with every settings problem found."""
    read = EnvReader(env)
    clock = clock or utcnow
    budget = budget if budget is not None else LocalBudget()
    connectors = {name: cls.from_env(read, clock=clock, budget=budget) for name, cls in connector_classes().items()}
    return connectors, read.problems
