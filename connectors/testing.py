"""The contract every connector passes, shipped so that a plug-in connector's own test suite runs it too.

In your tests (with pytest and responses installed), subclass it and describe your system in a dozen lines:

    from connectors.testing import ConnectorContract, RetriableRecordsContract

    class TestMarketoContract(ConnectorContract, RetriableRecordsContract):
        connector_class = MarketoConnector
        settings = {"MARKETO_CLIENT_ID": "id-1", "MARKETO_CLIENT_SECRET": SECRET, "MARKETO_WEBHOOK_TOKEN": TOKEN}
        secret = SECRET                      # must never appear in a message, a log line or repr()
        auth_setting = "MARKETO_CLIENT_ID"   # what an authentication failure names
        object, key_field, batch_size = "leads", "externalId", 300
        upsert_method, upsert_url, upsert_endpoint = "POST", f"{BASE}/rest/v1/leads.json", "POST leads"
        throttled = (429, {...})             # "slow down", sent with Retry-After: 7
        rejection, rejection_fields = (400, {...}), ("favouriteColour",)
        partial_fields = ("email",)
        change = ("leads", "318581", "updated")
        scan_page, scan_endpoints = 300, ("GET leads",)  # or scan_page = 0 when it cannot list every record
        # and the reply builders below: upsert_reply, partial_reply, reject_credentials, delivery, serve_scan
        # (retriable_reply for RetriableRecordsContract, login when the system has a token endpoint)

The tests run on mocked HTTP (`responses`: a URL not registered fails the call) and on a clock they move by
hand, so nothing reaches the network and nothing sleeps. They check that a connector batches to the minimum
number of calls; makes each call once, raising what the caller reschedules (a 503 as Transient, a throttle with
its Retry-After); asks its budget before every call and sends nothing when it is spent; reports validation errors
per record and as a whole, naming the fields; keeps credentials out of messages; turns a delivery into
inbox events whose record keys and changes agree; and scans every record once, in id order, at the paging minimum.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
import responses

from bridge.kernel.budget import Budget, Limit, LocalBudget
from bridge.kernel.env import EnvReader
from bridge.kernel.errors import AuthError, Permanent, RateLimited, Transient
from connectors.base import Connector, WebhookRequest

Reply = tuple[int, Any]  # (HTTP status, JSON body, or text)
UNAVAILABLE = (503, "<html><body>Service Unavailable</body></html>")
#: What SpentBudget answers: seconds until it would allow a call.
SPENT_RETRY_AFTER = 42.0


class FakeClock:
    """A clock tests move by hand (`advance(seconds=10)`); connectors read it as their `clock`."""

    def __init__(self, start: datetime = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class SpentBudget:
    """A budget with no call left once `spent` is true (at once by default): every take raises RateLimited."""

    def __init__(self, spent: bool = True):
        self.spent = spent
        self.taken = 0

    def take(self, system: str, pool: str, limit: Limit | None, now: datetime) -> None:
        if self.spent:
            raise RateLimited(system, f"{pool}: the test spent the budget", retry_after=SPENT_RETRY_AFTER)
        self.taken += 1


def script(
    rsps: responses.RequestsMock,
    method: str,
    url: str,
    *steps: Reply | Callable[[Any], Reply],
    headers: dict[str, str] | None = None,
) -> None:
    """Answer calls to `url` with `steps` in turn (the last one repeats). A step is a reply, or a function of
    the request's JSON body returning one. `headers` go with the error replies (status 400 and up)."""
    turn = iter(range(10_000))

    def answer(request):
        step = steps[min(next(turn), len(steps) - 1)]
        status, body = step(json.loads(request.body or "null")) if callable(step) else step
        text = body if isinstance(body, str) else json.dumps(body)
        return status, dict(headers or {}) if status >= 400 else {}, text

    rsps.add_callback(method, url, callback=answer)


def missing_hook(contract: object, hook: str) -> NotImplementedError:
    """The error for a contract class that has not described its system yet: which method to write."""
    return NotImplementedError(f"{type(contract).__name__} must define {hook}() to describe your system to the "
                               "contract tests (see the docstring of connectors.testing for each one)")


class ConnectorContract:
    """What every connector must do. A subclass names its class, settings and upsert endpoint, and builds
    replies in the shapes its system documents."""

    connector_class: ClassVar[type[Connector]]
    settings: ClassVar[dict[str, str]]  # API and webhook settings
    secret: ClassVar[str]  # a credential from `settings` that must never appear in a message
    auth_setting: ClassVar[str]  # the setting an authentication failure should point at
    object: ClassVar[str]
    key_field: ClassVar[str]
    batch_size: ClassVar[int]
    upsert_method: ClassVar[str]
    upsert_url: ClassVar[str]
    upsert_endpoint: ClassVar[str]  # its label in `connector.calls`
    throttled: ClassVar[Reply]  # "slow down", sent with Retry-After: 7
    throttled_error: ClassVar[type[Exception]] = RateLimited  # what `throttled` is raised as
    rejection: ClassVar[Reply]  # the whole request refused as invalid
    rejection_fields: ClassVar[tuple[str, ...]]
    partial_fields: ClassVar[tuple[str, ...]]
    partial_calls: ClassVar[int] = 1  # calls a batch with one invalid record takes
    change: ClassVar[tuple[str, str, str]]  # (object, record id, kind) of the first event of `delivery`
    #: Records per `scan` page (the system's largest); 0 when the connector cannot scan (then it must say so).
    scan_page: ClassVar[int] = 0
    scan_endpoints: ClassVar[tuple[str, ...]] = ()  # the labels in `connector.calls` of the scan's requests

    def login(self, rsps: responses.RequestsMock) -> None:
        """Register the token endpoint, for systems that have one."""

    def upsert_reply(self, body: Any) -> Reply:
        """Success for every record of the request `body`, all of them created."""
        raise missing_hook(self, "upsert_reply")

    def partial_reply(self, body: Any, bad_key: str) -> Reply:
        """The answer when the record keyed `bad_key` is invalid (the others are fine)."""
        raise missing_hook(self, "partial_reply")

    def reject_credentials(self, rsps: responses.RequestsMock) -> None:
        """Make the next call fail because the credentials are bad."""
        raise missing_hook(self, "reject_credentials")

    def delivery(self, now: datetime) -> WebhookRequest:
        """An authentic webhook delivery of one or more events, as the system sends it at `now`."""
        raise missing_hook(self, "delivery")

    def scan_ids(self, count: int) -> list[str]:
        """`count` record ids in the order the system sorts them."""
        return [str(1001 + i) for i in range(count)]

    def serve_scan(self, rsps: responses.RequestsMock, ids: list[str]) -> None:
        """Answer `scan`'s requests from the records with these ids (sorted), page by page as the system does."""
        raise missing_hook(self, "serve_scan")

    def record_id(self, record: dict[str, Any]) -> str:
        """The id of a record `scan` returned."""
        raise missing_hook(self, "record_id")

    # --- fixtures -------------------------------------------------------------------------------

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def rsps(self) -> Iterator[responses.RequestsMock]:
        """Mocked HTTP: an unregistered URL fails the call instead of reaching the network."""
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            yield mock

    @pytest.fixture
    def env(self) -> dict[str, str]:
        return dict(self.settings)

    @pytest.fixture
    def connector(self, env, clock, rsps) -> Connector:
        return self.build(env, clock, LocalBudget())

    def build(self, env: dict[str, str], clock: FakeClock, budget: Budget) -> Connector:
        read = EnvReader(env)
        connector = self.connector_class.from_env(read, clock=clock, budget=budget)
        assert read.problems == []
        return connector

    def records(self, count: int) -> list[dict[str, Any]]:
        return [{self.key_field: f"K{i:04d}", "email": f"lead{i}@example.co.jp"} for i in range(count)]

    def upsert_calls(self, rsps: responses.RequestsMock) -> list:
        return [
            c
            for c in rsps.calls
            if c.request.method == self.upsert_method and c.request.url.split("?")[0] == self.upsert_url
        ]

    # --- the contract -----------------------------------------------------------------------------

    def test_250_records_take_the_batching_minimum(self, connector, rsps):
        self.login(rsps)
        script(rsps, self.upsert_method, self.upsert_url, self.upsert_reply)
        results = connector.upsert(self.object, self.key_field, self.records(250))
        assert len(self.upsert_calls(rsps)) == -(-250 // self.batch_size)
        assert [r.key for r in results] == [f"K{i:04d}" for i in range(250)]
        assert {r.outcome for r in results} == {"created"}
        assert connector.calls[self.upsert_endpoint] == len(self.upsert_calls(rsps))

    def test_a_503_is_raised_after_one_call_and_the_next_call_succeeds(self, connector, rsps):
        self.login(rsps)
        script(rsps, self.upsert_method, self.upsert_url, UNAVAILABLE, self.upsert_reply)
        with pytest.raises(Transient):
            connector.upsert(self.object, self.key_field, self.records(1))
        assert len(self.upsert_calls(rsps)) == 1
        [result] = connector.upsert(self.object, self.key_field, self.records(1))
        assert result.outcome == "created"
        assert len(self.upsert_calls(rsps)) == connector.calls[self.upsert_endpoint] == 2

    def test_a_throttle_comes_back_with_its_retry_after(self, connector, rsps, clock):
        self.login(rsps)
        script(
            rsps,
            self.upsert_method,
            self.upsert_url,
            self.throttled,
            self.upsert_reply,
            headers={"Retry-After": "7"},
        )
        with pytest.raises(self.throttled_error) as caught:
            connector.upsert(self.object, self.key_field, self.records(1))
        assert caught.value.retry_after == 7.0
        assert len(self.upsert_calls(rsps)) == 1
        clock.advance(seconds=7)
        [result] = connector.upsert(self.object, self.key_field, self.records(1))
        assert result.outcome == "created"
        assert len(self.upsert_calls(rsps)) == 2

    def test_validation_error_is_permanent_after_one_call(self, connector, rsps):
        self.login(rsps)
        script(rsps, self.upsert_method, self.upsert_url, self.rejection)
        with pytest.raises(Permanent) as caught:
            connector.upsert(self.object, self.key_field, self.records(3))
        assert caught.value.fields == self.rejection_fields
        assert caught.value.code
        assert len(self.upsert_calls(rsps)) == 1

    def test_partial_failure_is_reported_per_record(self, connector, rsps):
        self.login(rsps)
        script(rsps, self.upsert_method, self.upsert_url, lambda body: self.partial_reply(body, "K0001"))
        results = connector.upsert(self.object, self.key_field, self.records(3))
        assert [r.key for r in results] == ["K0000", "K0001", "K0002"]
        assert [r.outcome for r in results] == ["created", "failed", "created"]
        failed = results[1]
        assert failed.category == "permanent"
        assert failed.code and failed.message
        assert failed.fields == self.partial_fields
        assert len(self.upsert_calls(rsps)) == self.partial_calls

    def test_a_spent_budget_refuses_before_any_call(self, env, clock, rsps):
        connector = self.build(env, clock, SpentBudget())
        self.login(rsps)
        script(rsps, self.upsert_method, self.upsert_url, self.upsert_reply)
        with pytest.raises(RateLimited) as caught:
            connector.upsert(self.object, self.key_field, self.records(3))
        assert caught.value.retry_after == SPENT_RETRY_AFTER
        assert len(rsps.calls) == 0
        assert sum(connector.calls.values()) == 0

    def test_a_budget_spent_midway_hands_back_only_the_unsent_records(self, env, clock, rsps):
        budget = SpentBudget(spent=False)
        connector = self.build(env, clock, budget)
        self.login(rsps)

        def written_then_spent(body):
            budget.spent = True
            return self.upsert_reply(body)

        script(rsps, self.upsert_method, self.upsert_url, written_then_spent)
        results = connector.upsert(self.object, self.key_field, self.records(self.batch_size + 2))
        assert len(self.upsert_calls(rsps)) == 1
        assert [r.outcome for r in results] == ["created"] * self.batch_size + ["failed"] * 2
        for result in results[-2:]:
            assert result.category == "retriable"
            assert isinstance(result.error, RateLimited) and result.error.retry_after == SPENT_RETRY_AFTER

    def test_bad_credentials_name_the_setting_and_never_the_secret(self, connector, rsps, caplog):
        caplog.set_level(logging.DEBUG)
        self.reject_credentials(rsps)
        with pytest.raises(AuthError) as caught:
            connector.check()
        assert caught.value.setting == self.auth_setting
        assert self.auth_setting in str(caught.value)
        assert self.secret not in str(caught.value)
        assert self.secret not in caplog.text
        assert self.secret not in repr(connector.__dict__)

    def test_api_problem_names_the_missing_settings(self, connector, clock, rsps):
        assert connector.api_problem() is None
        bare = self.connector_class.from_env(EnvReader({}), clock=clock)
        assert self.auth_setting in (bare.api_problem() or "")
        with pytest.raises(AuthError):
            bare.check()
        assert len(rsps.calls) == 0

    def test_a_delivery_becomes_events_whose_keys_and_changes_agree(self, connector, clock):
        request = self.delivery(clock())
        connector.verify_webhook(request, clock())
        events = connector.parse_webhook(request, clock())
        assert events
        changes = [connector.change_of(e.event_type, e.body, e.occurred_at) for e in events]
        for event, change in zip(events, changes, strict=True):
            assert event.source == change.system == connector.name
            assert connector.record_key(change.object, change.record_id) == event.record_key
            assert connector.parse_record_key(event.record_key) == (change.object, change.record_id)
            assert change.occurred_at == event.occurred_at
        assert (changes[0].object, changes[0].record_id, changes[0].kind) == self.change


    def test_scan_reads_every_record_once_in_id_order_at_the_paging_minimum(self, env, clock, rsps):
        # A budget that never refuses: the test counts calls, it does not wait out a per-second limit.
        connector = self.build(env, clock, SpentBudget(spent=False))
        if not self.scan_page:
            with pytest.raises(NotImplementedError):
                next(iter(connector.scan(self.object, [])))
            return
        self.login(rsps)
        ids = self.scan_ids(2 * self.scan_page + 1)
        self.serve_scan(rsps, ids)
        assert [self.record_id(r) for r in connector.scan(self.object, [])] == ids
        assert sum(connector.calls[e] for e in self.scan_endpoints) == 3
        resumed = [self.record_id(r) for r in connector.scan(self.object, [], after=ids[self.scan_page])]
        assert resumed == ids[self.scan_page + 1:]

    def test_a_spent_budget_refuses_a_scan_before_any_call(self, env, clock, rsps):
        connector = self.build(env, clock, SpentBudget())
        self.login(rsps)
        if self.scan_page:
            self.serve_scan(rsps, self.scan_ids(3))
        with pytest.raises(RateLimited if self.scan_page else NotImplementedError):
            next(iter(connector.scan(self.object, [])))
        assert len(rsps.calls) == 0


class RetriableRecordsContract:
    """For systems that report a retriable failure per record (HubSpot's 207, Salesforce's collections): such
    a record is handed back for the caller to reschedule, not sent again by the connector. Mix in beside
    ConnectorContract; systems that write all or nothing (kintone) leave it out."""

    def retriable_reply(self, body: Any, bad_key: str) -> Reply:
        """The answer when the record keyed `bad_key` failed for a passing reason (the others were written)."""
        raise missing_hook(self, "retriable_reply")

    def test_a_record_failing_retriably_is_returned_not_sent_again(self, connector, rsps):
        self.login(rsps)
        script(rsps, self.upsert_method, self.upsert_url, lambda body: self.retriable_reply(body, "K0001"))
        results = connector.upsert(self.object, self.key_field, self.records(3))
        assert [r.outcome for r in results] == ["created", "failed", "created"]
        assert results[1].key == "K0001" and results[1].category == "retriable" and results[1].code
        assert len(self.upsert_calls(rsps)) == 1
