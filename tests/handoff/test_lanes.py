"""A failing or rate-limited target holds up nobody else, and retries go by time: against the sandbox over loopback,
on an injected clock (nothing sleeps; an hour passes in a line)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import requests

from bridge.worker.run import Worker
from tests.handoff.test_pipeline import WORKED_EXAMPLE, act, world  # noqa: F401 (the fixture)
from tests.helpers import hubspot_event, post_hubspot

KINTONE_UPSERT = "kintone.records_update"
LEADS = 20


class Setup:
    """The world with both routes enabled and a worker on a clock the test moves."""

    def __init__(self, world):  # noqa: F811 (the fixture)
        self.world = world
        route = world.mappings / "hubspot-contact-to-kintone.yaml"
        route.write_text(route.read_text(encoding="utf-8").replace("enabled: false", "enabled: true"),
                         encoding="utf-8")
        services = world.client.application.extensions["bridge"]
        self.now = datetime.now(UTC)
        settings = replace(services.settings, worker=replace(services.settings.worker, linger_seconds=0))
        self.worker = Worker(settings, world.store, services.connectors, lambda: self.now, owner="lanes")
        self.control = f"{world.sandbox.base_url}/_sandbox"
        self.made = 0  # contacts made so far: each gets its own address

    def fail_kintone(self, status: int, retry_after: int | None = None, count: int = 100_000) -> None:
        failure = {"endpoint": KINTONE_UPSERT, "status": status, "count": count, "retry_after": retry_after}
        assert requests.post(f"{self.control}/failures", json=failure, timeout=10).status_code == 201

    def heal(self) -> None:
        requests.delete(f"{self.control}/failures", timeout=10)

    def hand_off(self, count: int = LEADS) -> list[str]:
        first, self.made = self.made, self.made + count
        contacts = self.world.contacts(*({**WORKED_EXAMPLE, "email": f"lane{n}@example.co.jp"}
                                         for n in range(first, self.made)))
        self.world.activities(*(act(f"{c}-{n}", kind, hubspot_id=c) for c in contacts for n, kind in
                                enumerate(("whitepaper_download", "whitepaper_download", "pricing_page_visit"))))
        self.now = max(self.now, datetime.now(UTC))  # the web app stamps deliveries with the real time
        return contacts

    def later(self, **delta: float) -> None:
        self.now += timedelta(**delta)
        self.worker.drain()

    def upserts(self, system: str) -> dict[str, int]:
        items = [i for i in self.world.store.outbox.items(limit=10_000) if i["kind"] == "upsert"
                 and i["target"].endswith("kintone" if system == "kintone" else "salesforce-lead")]
        found: dict[str, int] = {}
        for item in items:
            found[item["status"]] = found.get(item["status"], 0) + 1
        return found

    def attempts(self, system: str) -> list[int]:
        return [i["attempts"] for i in self.world.store.outbox.items(limit=10_000)
                if i["kind"] == "upsert" and i["target"].endswith(system)]


@pytest.fixture
def lanes(world):  # noqa: F811 (the fixture)
    return Setup(world)


@pytest.mark.parametrize("status, retry_after", [(429, 30), (503, 30)])
def test_a_failing_target_holds_up_neither_the_other_target_nor_the_inbox(lanes, status, retry_after):
    lanes.fail_kintone(status, retry_after)
    lanes.hand_off()
    lanes.worker.drain()  # the clock stands still: nothing may wait for kintone's 30 s
    assert lanes.upserts("salesforce") == {"done": LEADS}
    assert lanes.upserts("kintone") == {"pending": LEADS}
    waiting = [i for i in lanes.world.store.outbox.items(status="pending") if i["target"].endswith("kintone")]
    assert {i["next_attempt_at"] for i in waiting} == {(lanes.now + timedelta(seconds=30)).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")}
    # New deliveries are processed at once too: the inbox and evaluation do not queue behind kintone.
    (contact,) = lanes.hand_off(1)
    assert post_hubspot(lanes.world.client, [hubspot_event(99, object_id=int(contact))],
                        secret=lanes.world.secret).status_code == 200
    lanes.now = max(lanes.now, datetime.now(UTC))
    lanes.worker.drain()
    assert lanes.world.store.inbox.counts()["pending"] == 0
    assert lanes.upserts("salesforce") == {"done": LEADS + 1}
    lanes.heal()
    lanes.later(seconds=31)
    assert lanes.upserts("kintone") == {"done": LEADS + 1}


def test_a_ten_minute_rate_limit_storm_ends_with_every_handoff_done_and_no_attempt_spent(lanes):
    lanes.fail_kintone(429, retry_after=30)
    lanes.hand_off()
    lanes.worker.drain()
    for _ in range(20):  # ten minutes of 429s, 30 s apart
        lanes.later(seconds=30)
    assert lanes.upserts("kintone") == {"pending": LEADS}
    lanes.heal()
    lanes.later(seconds=30)
    assert lanes.upserts("kintone") == {"done": LEADS}
    assert set(lanes.attempts("kintone")) == {0}  # a rate limit is not a failure


def test_a_two_hour_outage_ends_with_every_handoff_done_and_none_dead(lanes):
    lanes.fail_kintone(503)  # no Retry-After: exponential back-off, capped at an hour
    lanes.hand_off()
    lanes.worker.drain()
    for _ in range(24):  # two hours, looked at every five minutes
        lanes.later(minutes=5)
    assert lanes.upserts("kintone") == {"pending": LEADS}
    failed = lanes.attempts("kintone")
    # Backing off: not one attempt per look. From the 1 s base, the delay outgrows the five-minute looks after
    # about nine failures, so two hours hold 13 or 14 attempts (the jitter decides), not 24.
    assert min(failed) >= 5 and max(failed) <= 14
    lanes.heal()
    lanes.later(hours=1)
    assert lanes.upserts("kintone") == {"done": LEADS}
    assert lanes.world.store.outbox.counts()["dead"] == 0


def test_a_permanent_refusal_is_dead_at_once(lanes):
    lanes.fail_kintone(400, count=1)
    lanes.hand_off(1)
    lanes.worker.drain()
    assert lanes.upserts("kintone") == {"dead": 1} and lanes.attempts("kintone") == [1]
    assert lanes.upserts("salesforce") == {"done": 1}



@pytest.mark.slow
def test_a_hanging_target_does_not_hold_up_the_other_lanes_in_real_time(lanes):
    """Threads per lane, for real: kintone stalls 5 s on every call; Salesforce handoffs land in well under that."""
    import threading
    import time

    failure = {"endpoint": KINTONE_UPSERT, "status": 503, "count": 100, "delay": 5}
    assert requests.post(f"{lanes.control}/failures", json=failure, timeout=10).status_code == 201
    services = lanes.world.client.application.extensions["bridge"]
    worker = Worker(services.settings, lanes.world.store, services.connectors, owner="threads")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    try:
        started = time.monotonic()
        lanes.hand_off(5)
        thread.start()
        while lanes.upserts("salesforce").get("done", 0) < 5 and time.monotonic() - started < 10:
            time.sleep(0.05)
        assert lanes.upserts("salesforce") == {"done": 5}
        assert time.monotonic() - started < 4  # kintone's first call is still stalled
        assert lanes.upserts("kintone") == {"processing": 5}
    finally:
        stop.set()
        thread.join(timeout=30)
