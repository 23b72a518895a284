"""Prometheus metrics: counters shared by gunicorn workers through PROMETHEUS_MULTIPROC_DIR, and queue and SLA
figures read from the database at scrape time (so they are right whichever process did the work)."""

import os
import threading
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from bridge.store import Store

webhook_requests = Counter(
    "bridge_webhook_requests", "Webhook deliveries by source and outcome", ["source", "outcome"]
)
webhook_events = Counter("bridge_webhook_events", "Events committed to the inbox (new ones)", ["source"])
# Kept, but no handoff rule scores them: usually a sender's typo.
activities_unknown_type = Counter("bridge_activities_unknown_type",
                                  "Activities accepted whose type no rule in handoff.yaml scores", ["type"])
#: Unknown types one process counts under their own name; later ones count as OTHER_TYPES. The activities token
#: sits in a public website tag, so anyone may send new types, and every label is a series each scrape returns
#: (1,000 types a request grew /metrics from 3 KB to 2 MB in 20 requests).
UNKNOWN_TYPE_LABELS = 50
OTHER_TYPES = "(other)"
_unknown_labels: set[str] = set()
_unknown_labels_lock = threading.Lock()


def count_unknown_type(activity_type: str, count: int) -> None:
    """Count accepted activities of a type no rule scores, in a bounded set of labels."""
    with _unknown_labels_lock:
        if activity_type not in _unknown_labels and len(_unknown_labels) >= UNKNOWN_TYPE_LABELS:
            activity_type = OTHER_TYPES
        else:
            _unknown_labels.add(activity_type)
    activities_unknown_type.labels(activity_type).inc(count)


class QueueCollector:
    """Inbox and outbox items by status, leads waiting for evaluation or handed off, and each system's API
    budget in use (calls in the current window of each pool, against its limit)."""

    def __init__(self, store: Store, now: datetime):
        self.store, self.now = store, now

    def collect(self):
        queues = GaugeMetricFamily("bridge_queue_items", "Inbox events and outbox writes by status",
                                   labels=["queue", "status"])
        for queue, counts in (("inbox", self.store.inbox.counts()), ("outbox", self.store.outbox.counts())):
            for status, count in counts.items():
                queues.add_metric([queue, status], count)
        yield queues
        leads = GaugeMetricFamily("bridge_leads", "Leads by state", labels=["state"])
        for state, count in self.store.leads.states().items():
            leads.add_metric([state], count)
        yield leads
        used = GaugeMetricFamily("bridge_api_budget_used", "API calls in the current window, per system and pool",
                                 labels=["system", "pool"])
        limit = GaugeMetricFamily("bridge_api_budget_limit", "API calls allowed per window, per system and pool",
                                  labels=["system", "pool"])
        for pool in self.store.budget.usage(self.now):
            used.add_metric([pool["system"], pool["pool"]], pool["used"])
            limit.add_metric([pool["system"], pool["pool"]], pool["limit"])
        yield used
        yield limit


#: Upper bounds of the time-to-first-touch histogram, in business hours (half an hour to a week of 8-hour days).
FIRST_TOUCH_BUCKETS = (0.5, 1, 2, 4, 8, 16, 24, 40)


class SlaCollector:
    """SLA clocks: open ones by state, breaches ever escalated, and the business time sales took to first touch a
    handed-off lead (as each clock measured it when the touch was seen)."""

    def __init__(self, store: Store):
        self.store = store

    def collect(self):
        clocks = GaugeMetricFamily("bridge_sla_open_clocks", "Open SLA clocks by state", labels=["state"])
        for state, count in self.store.clocks.open_by_state().items():
            clocks.add_metric([state], count)
        yield clocks
        yield CounterMetricFamily("bridge_sla_breaches", "First-touch deadlines missed and escalated",
                                  value=self.store.clocks.breaches())
        minutes = self.store.clocks.first_touch_minutes()
        buckets = [(floatToGoString(bound), sum(n for m, n in minutes.items() if m <= bound * 60))
                   for bound in FIRST_TOUCH_BUCKETS]
        yield HistogramMetricFamily(
            "bridge_sla_first_touch_business_hours", "Business hours from handoff to the first touch by sales",
            buckets=[*buckets, ("+Inf", sum(minutes.values()))],
            sum_value=sum(m * n for m, n in minutes.items()) / 60)


def exposition(store: Store, now: datetime) -> tuple[bytes, str]:
    """The text format for /metrics, counters merged across processes when running under gunicorn."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
        body = generate_latest(counters)
    else:
        body = generate_latest()
    queues = CollectorRegistry()
    queues.register(QueueCollector(store, now))
    queues.register(SlaCollector(store))
    return body + generate_latest(queues), CONTENT_TYPE_LATEST
