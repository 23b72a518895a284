"""An activity of a type no handoff rule uses is kept, but never silently: the answer, /metrics and the
timeline say so, against the rules in force (reloaded when handoff.yaml changes, not parsed per request)."""

import pytest
from prometheus_client import REGISTRY

from bridge import live as live_mappings
from bridge.timeline import timeline
from bridge.web import metrics
from tests.test_activities import activity, post


@pytest.fixture(autouse=True)
def _fresh_labels(monkeypatch):
    """Types other tests of this process invented do not use up the named labels (metrics.UNKNOWN_TYPE_LABELS)."""
    monkeypatch.setattr(metrics, "_unknown_labels", set())


def unknown_count(activity_type: str) -> float:
    return REGISTRY.get_sample_value("bridge_activities_unknown_type_total", {"type": activity_type}) or 0.0


def test_the_answer_lists_unknown_types_and_what_to_do(client, store):
    before = unknown_count("webnar_signup")
    response = post(client, [activity(1), activity(2, type="webnar_signup"), activity(3, type="webnar_signup"),
                             activity(4, type="pricing_page_vist")])
    assert response.status_code == 202
    answer = response.json
    assert (answer["accepted"], answer["new"]) == (4, 4)
    assert answer["unknown_types"] == ["pricing_page_vist", "webnar_signup"]
    assert "mappings/handoff.yaml" in answer["warning"] and "no points" in answer["warning"]
    assert "pricing_page_vist (did you mean pricing_page_visit?)" in answer["warning"]
    assert store.inbox.counts()["pending"] == 4  # kept all the same
    assert unknown_count("webnar_signup") == before + 2


def test_known_types_get_the_plain_answer(client):
    assert post(client, [activity(1), activity(2, type="seminar_attended")]).json == {"accepted": 2, "new": 2}


def test_the_rules_in_force_decide_and_are_not_parsed_per_request(client, make_settings, monkeypatch):
    parsed = []
    real_load_rules = live_mappings.load_rules
    monkeypatch.setattr(live_mappings, "load_rules", lambda folder: parsed.append(folder) or real_load_rules(folder))
    assert post(client, [activity(1, type="webnar_signup")]).json["unknown_types"] == ["webnar_signup"]
    assert post(client, [activity(2, type="webnar_signup")]).json["unknown_types"] == ["webnar_signup"]
    assert parsed == []  # loaded once at start-up, before the counter was put in place

    rules = make_settings().mappings_dir / "handoff.yaml"
    text = rules.read_text(encoding="utf-8")
    assert "\n  - activity: seminar_attended " in text
    rules.write_text(text.replace("\n  - activity: seminar_attended ",
                                  "\n  - activity: webnar_signup\n    points: 10\n  - activity: seminar_attended ", 1),
                     encoding="utf-8")
    assert "unknown_types" not in post(client, [activity(3, type="webnar_signup")]).json
    assert len(parsed) == 1  # the change was read once


def test_the_timeline_marks_unknown_types(app, store, clock):
    with store.unit_of_work() as work:
        lead_id = work.leads.touch(clock(), email="emily.carter@northwind.example")
        work.leads.add_activity("a1", lead_id, "pricing_page_visit", "2026-11-20T09:00:00.000Z", None, 1, clock())
        work.leads.add_activity("a2", lead_id, "webnar_signup", "2026-11-20T10:00:00.000Z", None, 2, clock())
    known = app.extensions["bridge"].activity_types()
    entries = {e["activity"]["type"]: e for e in timeline(store, lead_id, known)["entries"] if e["kind"] == "activity"}
    assert entries["webnar_signup"]["activity"]["unknown_type"] is True
    assert "unknown type" in entries["webnar_signup"]["text"]
    assert entries["pricing_page_visit"]["activity"]["unknown_type"] is False
