"""The contract every connector passes: batching, retries, validation errors, Retry-After, partial
failures, call counting and credentials kept out of messages. Subclass per connector."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
import responses

from bridge.kernel.env import EnvReader
from bridge.kernel.errors import AuthError, Permanent
from connectors._http import Clock
from connectors.base import Connector

Reply = tuple[int, Any]  # (HTTP status, JSON body)
UNAVAILABLE = (503, "<html><body>Service Unavailable</body></html>")


class FakeClock(Clock):
    """Time that moves only when someone sleeps; every sleep is recorded."""

    def __init__(self, start: datetime = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)):
        self.moment = start.timestamp()
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.moment

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.moment += seconds


def script(
    rsps: responses.RequestsMock,
    method: str,
    url: str,
    *steps: Reply | Callable[[Any], Reply],
    headers: dict[str, str] | None = None,
) -> None:
    """Answer calls to `url` with `steps` in turn (the last one repeats). A step is a reply, or a
    function of the request's JSON body returning one."""
    turn = iter(range(10_000))

    def answer(request):
        step = steps[min(next(turn), len(steps) - 1)]
        status, body = step(json.loads(request.body or "null")) if callable(step) else step
        text = body if isinstance(body, str) else json.dumps(body)
        return status, dict(headers or {}) if status >= 400 else {}, text

    rsps.add_callback(method, url, callback=answer)


class ConnectorContract:
    """What every connector must do. A subclass names its class, settings and upsert endpoint, and
    builds replies in the shapes its system documents."""

    connector_class: ClassVar[type[Connector]]
    settings: ClassVar[dict[str, str]]
    secret: ClassVar[str]  # a credential from `settings` that must never appear in a message
    auth_setting: ClassVar[str]  # the setting an authentication failure should point at
    object: ClassVar[str]
    key_field: ClassVar[str]
    batch_size: ClassVar[int]
    upsert_method: ClassVar[str]
    upsert_url: ClassVar[str]
    upsert_endpoint: ClassVar[str]  # its label in `connector.calls`
    throttled: ClassVar[Reply]  # "slow down", sent with Retry-After
    rejection: ClassVar[Reply]  # the whole request refused as invalid
    rejection_fields: ClassVar[tuple[str, ...]]
    partial_fields: ClassVar[tuple[str, ...]]
    partial_calls: ClassVar[int] = 1  # calls a batch with one invalid record takes

    def login(self, rsps: responses.RequestsMock) -> None:
        """Register the token endpoint, for systems that have one."""

    def upsert_reply(self, body: Any) -> Reply:
        """Success for every record of the request `body`, all of them created."""
        raise NotImplementedError

    def partial_reply(self, body: Any, bad_key: str) -> Reply:
        """The answer when the record keyed `bad_key` is invalid (the others are fine)."""
        raise NotImplementedError

    def reject_credentials(self, rsps: responses.RequestsMock) -> None:
        """Make the next call fail because the credentials are bad."""
        raise NotImplementedError

    @pytest.fixture
    def env(self) -> dict[str, str]:
        return dict(self.settings)

    @pytest.fixture
    def connector(self, env, clock, rsps) -> Connector:
        read = EnvReader(env)
        connector = self.connector_class.from_env(read, clock=clock)
        assert read.problems == []
        return connector

    def records(self, count: int) -> list[dict[str, Any]]:
        return [
            {self.key_field: f"K{i:04d}", "email": f"lead{i}@example.co.jp"} for i in range(count)
        ]

    def upsert_calls(self, rsps: responses.RequestsMock) -> list:
        return [
            c
            for c in rsps.calls
            if c.request.method == self.upsert_method
            and c.request.url.split("?")[0] == self.upsert_url
        ]

    # --- the contract -------------------------------------------------------------------------

    def test_250_records_take_the_batching_minimum(self, connector, rsps):
        self.login(rsps)
        script(rsps, self.upsert_method, self.upsert_url, self.upsert_reply)
        results = connector.upsert(self.object, self.key_field, self.records(250))
        assert len(self.upsert_calls(rsps)) == -(-250 // self.batch_size)
        assert [r.key for r in results] == [f"K{i:04d}" for i in range(250)]
        assert {r.outcome for r in results} == {"created"}
        assert connector.calls[self.upsert_endpoint] == len(self.upsert_calls(rsps))

    def test_503_503_200_is_three_calls(self, connector, rsps, clock):
        self.login(rsps)
        script(
            rsps, self.upsert_method, self.upsert_url, UNAVAILABLE, UNAVAILABLE, self.upsert_reply
        )
        [result] = connector.upsert(self.object, self.key_field, self.records(1))
        assert result.outcome == "created"
        assert len(self.upsert_calls(rsps)) == 3
        assert len(clock.sleeps) == 2

    def test_validation_error_is_permanent_after_one_call(self, connector, rsps, clock):
        self.login(rsps)
        script(rsps, self.upsert_method, self.upsert_url, self.rejection)
        with pytest.raises(Permanent) as caught:
            connector.upsert(self.object, self.key_field, self.records(3))
        assert caught.value.fields == self.rejection_fields
        assert caught.value.code
        assert len(self.upsert_calls(rsps)) == 1
        assert clock.sleeps == []

    def test_retry_after_is_honoured_without_sleeping(self, connector, rsps, clock):
        self.login(rsps)
        script(
            rsps,
            self.upsert_method,
            self.upsert_url,
            self.throttled,
            self.upsert_reply,
            headers={"Retry-After": "7"},
        )
        [result] = connector.upsert(self.object, self.key_field, self.records(1))
        assert result.outcome == "created"
        assert clock.sleeps == [7.0]
        assert len(self.upsert_calls(rsps)) == 2

    def test_partial_failure_is_reported_per_record(self, connector, rsps, clock):
        self.login(rsps)
        script(
            rsps,
            self.upsert_method,
            self.upsert_url,
            lambda body: self.partial_reply(body, "K0001"),
        )
        results = connector.upsert(self.object, self.key_field, self.records(3))
        assert [r.key for r in results] == ["K0000", "K0001", "K0002"]
        assert [r.outcome for r in results] == ["created", "failed", "created"]
        failed = results[1]
        assert failed.category == "permanent"
        assert failed.code and failed.message
        assert failed.fields == self.partial_fields
        assert len(self.upsert_calls(rsps)) == self.partial_calls
        assert clock.sleeps == []

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

    def test_api_problem_names_the_missing_settings(self, connector, clock):
        assert connector.api_problem() is None
        bare = self.connector_class.from_env(EnvReader({}), clock=clock)
        assert self.auth_setting in (bare.api_problem() or "")
        with pytest.raises(AuthError):
            bare.check()
