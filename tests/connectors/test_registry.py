"""The connector registry: built-ins, plug-ins from entry points, and settings problems gathered."""

from __future__ import annotations

from collections import Counter

from bridge.kernel.budget import LocalBudget
from connectors import registry
from connectors.base import Change, Connector
from connectors.testing import FakeClock


class Marketo(Connector):
    """A plug-in as a third party would write it: every abstract method, nothing else."""

    name = "marketo"
    settings_help = {"MARKETO_CLIENT_ID": "API client id"}

    def __init__(self, clock, budget):
        self.clock, self.budget = clock, budget

    @classmethod
    def from_env(cls, read, *, clock, budget=None):
        if not read.text("MARKETO_CLIENT_ID"):
            read.problems.append("MARKETO_CLIENT_ID is not set")
        return cls(clock, budget)

    def api_problem(self):
        return None

    def check(self):
        return "ok"

    def read(self, object, ids, fields, id_field=None):
        return {}

    def upsert(self, object, key_field, records):
        return []

    def changed_since(self, object, since, fields):
        return iter(())

    def describe(self, object):
        return {}

    @property
    def calls(self):
        return Counter()

    def webhook_problem(self):
        return None

    def verify_webhook(self, request, now):
        return None

    def parse_webhook(self, request, received_at):
        return []

    def change_of(self, event_type, body, occurred_at):
        return Change(self.name, "leads", body, "updated", {}, False, occurred_at, None)


class FakeEntryPoint:
    def load(self):
        return Marketo


def test_plug_ins_join_the_built_ins(monkeypatch):
    monkeypatch.setattr(registry, "entry_points", lambda group: [FakeEntryPoint()])
    assert list(registry.connector_classes()) == ["hubspot", "salesforce", "kintone", "marketo"]


def test_every_connectors_problems_are_gathered_at_once(monkeypatch):
    monkeypatch.setattr(registry, "entry_points", lambda group: [FakeEntryPoint()])
    env = {"HUBSPOT_TIER": "gold", "SALESFORCE_API_PAUSE_AT": "2", "KINTONE_APP_ID": "x"}
    built, problems = registry.load_connectors(env)
    assert set(built) == {"hubspot", "salesforce", "kintone", "marketo"}
    assert len(problems) == 5
    for name in (
        "HUBSPOT_TIER",
        "SALESFORCE_API_PAUSE_AT",
        "KINTONE_BASE_URL",
        "KINTONE_APP_ID=",
        "MARKETO_CLIENT_ID",
    ):
        assert any(name in p for p in problems), name


def test_every_connector_gets_the_same_clock_and_budget(monkeypatch):
    monkeypatch.setattr(registry, "entry_points", lambda group: [FakeEntryPoint()])
    clock, budget = FakeClock(), LocalBudget()
    built, _ = registry.load_connectors({}, clock=clock, budget=budget)
    assert {id(c.clock) for c in built.values()} == {id(clock)}
    assert built["marketo"].budget is budget
    assert {id(c.http.budget) for n, c in built.items() if n != "marketo"} == {id(budget)}
    shared, _ = registry.load_connectors({})
    assert shared["hubspot"].http.budget is shared["kintone"].http.budget  # one default budget for all
