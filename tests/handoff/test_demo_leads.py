"""The demo's leads are what they claim: each one's expected outcome holds under the shipped rules."""

from datetime import UTC, datetime

import pytest

from bridge.demo import DEMO_LEADS, activities_of
from bridge.handoff.evaluate import Activity, evaluate
from bridge.handoff.load import load_rules
from tests.conftest import SHIPPED_MAPPINGS

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("lead", DEMO_LEADS, ids=lambda lead: lead.note)
def test_demo_lead_outcome(lead):
    items = activities_of((lead,), ["1"], NOW)
    record = {"email": lead.email, "jobtitle": lead.jobtitle, "industry": lead.industry,
              "numemployees": lead.numemployees}
    decision = evaluate(record, [Activity(i["type"], datetime.fromisoformat(i["occurred_at"])) for i in items],
                        load_rules(SHIPPED_MAPPINGS), NOW)
    outcome = "excluded" if decision.excluded else "handoff" if decision.qualifies else "not yet"
    assert outcome == lead.expect, decision.summary()


def test_the_worked_example_is_among_them():
    scores = {lead.note: lead for lead in DEMO_LEADS}
    assert any("115" in note for note in scores) and any(": 85" in note for note in scores)
