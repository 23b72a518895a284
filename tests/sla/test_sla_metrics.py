"""/metrics: open SLA clocks by state, breaches ever escalated, and the time to first touch in business hours, read
from the store at scrape time (clocks made through the store and the timers stage, tests/sla/scenario.py)."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import make_worker
from tests.sla.scenario import four_leads, sales_event


def scrape(client) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of every sample /metrics exposes."""
    text = client.get("/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def bucket(samples, le: str) -> float:
    return samples[("bridge_sla_first_touch_business_hours_bucket", (("le", le),))]


def test_open_clocks_breaches_and_the_first_touch_histogram(app, client, store, clock):
    leads = four_leads(app, clock)
    samples = scrape(client)
    assert samples[("bridge_sla_open_clocks", (("state", "waiting"),))] == 2
    assert samples[("bridge_sla_open_clocks", (("state", "breached"),))] == 1
    assert ("bridge_sla_open_clocks", (("state", "met"),)) not in samples  # ended clocks are not open
    assert samples[("bridge_sla_breaches_total", ())] == 1
    # lead C, reached after 2:00 business hours: in the 2-hour bucket and every one above it
    assert [bucket(samples, le) for le in ("0.5", "1.0", "2.0", "4.0", "40.0", "+Inf")] == [0, 0, 1, 1, 1, 1]
    assert samples[("bridge_sla_first_touch_business_hours_count", ())] == 1
    assert samples[("bridge_sla_first_touch_business_hours_sum", ())] == 2.0

    sales_event(store, clock, leads["B"], "attempted")  # the breached hot lead, tried 17:00 business hours in
    make_worker(app, clock).lanes["timers"][0].run_once()
    samples = scrape(client)
    assert samples[("bridge_sla_open_clocks", (("state", "late"),))] == 1  # touched late, now following up
    assert ("bridge_sla_open_clocks", (("state", "breached"),)) not in samples
    assert samples[("bridge_sla_breaches_total", ())] == 1  # a breach stays counted
    assert [bucket(samples, le) for le in ("16.0", "24.0", "+Inf")] == [1, 2, 2]
    assert samples[("bridge_sla_first_touch_business_hours_sum", ())] == 19.0


def test_with_no_clock_the_figures_are_zero_and_well_formed(client):
    text = client.get("/metrics").text
    assert re.search(r"^bridge_sla_breaches_total 0\.0$", text, re.MULTILINE)
    assert re.search(r'^bridge_sla_first_touch_business_hours_bucket\{le="\+Inf"\} 0\.0$', text, re.MULTILINE)
    assert "# TYPE bridge_sla_open_clocks gauge" in text
