"""Prometheus counters; under gunicorn the workers share them through PROMETHEUS_MULTIPROC_DIR."""

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest, multiprocess

webhook_requests = Counter(
    "bridge_webhook_requests", "Webhook deliveries by source and outcome", ["source", "outcome"]
)
webhook_events = Counter("bridge_webhook_events", "Events committed to the inbox (new ones)", ["source"])


def exposition() -> tuple[bytes, str]:
    """The text format for /metrics, merged across processes when running under gunicorn."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
