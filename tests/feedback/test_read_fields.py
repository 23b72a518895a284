"""What the feedback stage asks a sales system for: the record's own fields, never the bridge.* values a route's
to_source fields take from Bridge itself (a real org answers INVALID_FIELD for those, and the read never succeeds)."""

from tests.feedback.test_stage import way_back  # noqa: F401 (the fixture)


def test_a_changed_lead_is_read_with_its_own_fields_only(way_back):  # noqa: F811
    _, rep, salesforce, _, _ = way_back
    rep("Working - Contacted", "04l1", "2026-11-21T09:05:00.000Z")
    (object, _, fields) = salesforce.reads[0]
    assert object == "Lead" and {"Status", "Disqualification_Reason__c", "ConvertedOpportunityId"} <= set(fields)
    assert [f for f in fields if f.startswith("bridge.")] == []


def test_the_lead_record_is_read_with_its_owner_for_the_sla_notices_a_task_without(way_back, app):  # noqa: F811
    from bridge.worker.feedback import feedback_fields

    _, rep, salesforce, _, _ = way_back
    rep("Working - Contacted", "04l1", "2026-11-21T09:05:00.000Z")
    assert "OwnerId" in salesforce.reads[0][2]  # sla.yaml owner_fields: salesforce OwnerId
    mappings = app.extensions["bridge"].mappings
    assert "OwnerId" not in feedback_fields(mappings, "salesforce", "Task")  # not a lead's record
