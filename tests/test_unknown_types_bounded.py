"""Activity types no rule scores are counted in /metrics under a bounded set of labels: the activities token is public
(a website tag), so a sender inventing types must not grow every scrape without limit."""

import pytest
from prometheus_client import REGISTRY

from bridge.web import metrics
from tests.test_activities import activity, post

NAME = "bridge_activities_unknown_type_total"


@pytest.fixture(autouse=True)
def _fresh_labels(monkeypatch):
    monkeypatch.setattr(metrics, "_unknown_labels", set())


def counted() -> dict[str, float]:
    return {s.labels["type"]: s.value for family in REGISTRY.collect() for s in family.samples if s.name == NAME}


def test_invented_types_beyond_the_bound_count_as_other(client, store):
    before = counted()
    invented = [activity(n, type=f"invented_{n}_{'x' * 40}") for n in range(metrics.UNKNOWN_TYPE_LABELS + 30)]
    response = post(client, invented)
    assert response.status_code == 202 and response.json["new"] == len(invented)  # all kept
    assert len(response.json["unknown_types"]) == len(invented)  # the sender is told about every one
    after = counted()
    new_labels = {label for label in after if label not in before}
    assert len(new_labels - {metrics.OTHER_TYPES}) == metrics.UNKNOWN_TYPE_LABELS
    assert after[metrics.OTHER_TYPES] - before.get(metrics.OTHER_TYPES, 0.0) == 30


def test_a_type_counted_by_name_keeps_its_label_after_the_bound_is_reached(client, store):
    post(client, [activity(1, type="webnar_signup")])
    post(client, [activity(n, type=f"invented_{n}") for n in range(2, metrics.UNKNOWN_TYPE_LABELS + 10)])
    before = counted()
    post(client, [activity(100, type="webnar_signup")])
    assert counted()["webnar_signup"] == before["webnar_signup"] + 1
