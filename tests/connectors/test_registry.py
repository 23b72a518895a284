"""The connector registry: built-ins, plug-ins from entry points, and settings problems gathered."""

from __future__ import annotations

from collections import Counter

from connectors import registry
from connectors.base import Connector


class Marketo(Connector):
    """A plug-in as a third party would write it: every abstract method, nothing else."""

    name = "marketo"
    settings_help = {"MARKETO_CLIENT_ID": "API client id"}

    @classmethod
    def from_env(cls, read):
        if not read.text("MARKETO_CLIENT_ID"):
            read.problems.append("MARKETO_CLIENT_ID is not set")
        return cls()

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
