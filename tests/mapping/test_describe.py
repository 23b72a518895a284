"""Mappings against objects the connectors describe: stubs, and the sandbox over loopback."""

from __future__ import annotations

import pytest

from bridge.kernel.errors import ConnectorError
from bridge.mapping import check_folder
from bridge.mapping.describe import ConnectorDescriptions
from tests.mapping.conftest import LEAD, MAPPINGS


class Stub:
    """Just the two connector methods ConnectorDescriptions uses."""

    def __init__(self, fields=None, problem=None, error=None):
        self.fields, self.problem, self.error, self.asked = fields, problem, error, []

    def api_problem(self):
        return self.problem

    def describe(self, object_name):
        self.asked.append(object_name)
        if self.error:
            raise self.error
        return self.fields


def test_describes_each_object_once_and_notes_what_it_could_not():
    salesforce = Stub(LEAD)
    described = ConnectorDescriptions(
        {
            "salesforce": salesforce,
            "hubspot": Stub(problem="HubSpot API is not configured"),
            "kintone": Stub(error=ConnectorError("kintone", "GET app/form/fields: 403 CB_NO02")),
        }
    )
    assert described("salesforce", "Lead") is LEAD and described("salesforce", "Lead") is LEAD
    assert salesforce.asked == ["Lead"]
    assert described("hubspot", "contacts") is None and described("marketo", "lead") is None
    assert described("kintone", "7") is None
    assert described.skipped == [
        "hubspot contacts: not checked against the live object (HubSpot API is not configured)",
        "marketo lead: not checked against the live object (no connector of that name)",
    ]
    assert described.failures == ["kintone 7: could not read its fields: kintone: GET app/form/fields: 403 CB_NO02"]


def test_shipped_mappings_match_the_objects_of_the_sandbox():
    server = pytest.importorskip("connectors.sandbox.server")
    from connectors.registry import load_connectors

    with server.serve() as running:
        env = running.sandbox.env()
        connectors, _ = load_connectors(env)  # settings problems here concern webhooks, not API access
        described = ConnectorDescriptions(connectors)
        report = check_folder(MAPPINGS, env, described)
    assert described.skipped == [] and described.failures == []
    assert report.errors == [] and report.warnings == []
    assert sorted(report.routes) == [
        "hubspot-contact-to-kintone",
        "hubspot-contact-to-salesforce-lead",
    ]
