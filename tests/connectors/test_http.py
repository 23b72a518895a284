"""Shared HTTP plumbing: the window limiter, Retry-After parsing, retry policy and error mapping."""

from __future__ import annotations

import pytest
import requests
import responses

from bridge.kernel.errors import Permanent, RateLimited, Transient
from connectors._http import Http, RetryPolicy, WindowLimiter, retry_after_seconds

URL = "https://api.example.com/thing"


def make_http(clock, **policy) -> Http:
    def classify(response: requests.Response):
        if response.status_code == 429:
            return RateLimited(
                "test", "slow down", retry_after=float(response.headers["Retry-After"])
            )
        if response.status_code >= 500:
            return Transient("test", "unavailable")
        return Permanent("test", "invalid", fields=("email",))

    return Http("test", classify, clock, RetryPolicy(**policy))


def test_window_limiter_waits_for_the_oldest_call_to_leave_the_window(clock):
    limiter = WindowLimiter(3, 1.0, clock)
    for _ in range(3):
        limiter.acquire()
    clock.moment += 0.25
    limiter.acquire()
    assert clock.sleeps == [0.75]
    clock.moment += 5
    limiter.acquire()
    assert clock.sleeps == [0.75]


def test_retry_after_as_an_http_date(clock):
    response = requests.Response()
    response.headers["Retry-After"] = "Fri, 20 Nov 2026 03:00:30 GMT"
    assert retry_after_seconds(response, clock) == 30.0
    response.headers["Retry-After"] = "soon"
    assert retry_after_seconds(response, clock) is None


def test_permanent_errors_are_not_retried(clock, rsps):
    rsps.get(URL, status=400)
    http = make_http(clock)
    with pytest.raises(Permanent):
        http.call(lambda: http.send("GET", URL, "GET thing"))
    assert http.calls == {"GET thing": 1} and clock.sleeps == []


def test_transient_errors_stop_after_the_attempt_limit_with_capped_backoff(clock, rsps):
    rsps.get(URL, status=503)
    http = make_http(clock, attempts=4, base=1.0, cap=3.0)
    with pytest.raises(Transient):
        http.call(lambda: http.send("GET", URL, "GET thing"))
    assert http.calls["GET thing"] == 4
    assert len(clock.sleeps) == 3 and all(0 <= s <= 3.0 for s in clock.sleeps)


def test_a_retry_after_beyond_the_longest_wait_goes_back_to_the_caller(clock, rsps):
    rsps.get(URL, status=429, headers={"Retry-After": "3600"})
    http = make_http(clock)
    with pytest.raises(RateLimited) as caught:
        http.call(lambda: http.send("GET", URL, "GET thing"))
    assert caught.value.retry_after == 3600 and clock.sleeps == []


def test_connection_failures_are_transient_and_name_no_url(clock, rsps):
    rsps.get(URL, body=requests.ConnectionError(f"cannot reach {URL}?token=abc"))
    http = make_http(clock, attempts=1)
    with pytest.raises(Transient) as caught:
        http.call(lambda: http.send("GET", URL, "GET thing"))
    assert str(caught.value) == "test: GET thing: could not connect"


def test_every_request_has_a_timeout(clock, monkeypatch):
    seen = {}

    def fake_request(self, method, url, **kwargs):
        seen.update(kwargs)
        response = requests.Response()
        response.status_code = 200
        return response

    monkeypatch.setattr(requests.Session, "request", fake_request)
    http = make_http(clock)
    http.send("GET", URL, "GET thing")
    connect, read = seen["timeout"]
    assert 0 < connect <= 10 and 0 < read <= 120


@responses.activate
def test_calls_are_counted_per_endpoint(clock):
    responses.get(URL, json={})
    http = make_http(clock)
    for _ in range(2):
        http.send("GET", URL, "GET thing")
    http.send("GET", URL, "GET other")
    assert http.calls == {"GET thing": 2, "GET other": 1}
