"""Prometheus metrics: counters shared by gunicorn workers through PROMETHEUS_MULTIPROC_DIR, and queue
gauges read from the database at scrape time (so they are right whichever process did the work)."""

import os
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from bridge.store import Store

webhook_requests = Counter(
    "bridge_webhook_requests", "Webhook deliveries by source and outcome", ["source", "outcome"]
)
webhook_events = Counter("bridge_webhook_events", "Events committed to the inbox (new ones)", ["source"])
# Kept, but no handoff rule scores them: usually a sender's typo. Senders are authenticated and types are
# lower_snake_case of at most 64 characters, so the label set stays what the senders use.
activities_unknown_type = Counter("bridge_activities_unknown_type",
                                  "Activities accepted whose type no rule in handoff.yaml scores", ["type"])


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
    return body + generate_latest(queues), CONTENT_TYPE_LATEST
