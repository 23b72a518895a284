"""Shared HTTP plumbing: one counted attempt per call, the budget asked first, pauses, Retry-After, status → error."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
import responses

from bridge.kernel.budget import Limit, LocalBudget
from bridge.kernel.errors import AuthError, Paused, Permanent, RateLimited, Transient
from connectors._http import Http, error_for_status, retry_after_seconds
from connectors.testing import SpentBudget

URL = "https://api.example.com/thing"


def make_http(clock, budget=None) -> Http:
    return Http("test", clock, budget or LocalBudget())


def answer(status: int, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    response.url = URL + "?email=taro@example.co.jp"
    response.request = requests.Request("PATCH", response.url).prepare()
    return response


def test_a_failed_status_is_returned_after_one_attempt(clock, rsps):
    rsps.get(URL, status=503)
    http = make_http(clock)
    assert http.send("GET", URL, "GET thing", pool="api", limit=None).status_code == 503
    assert http.calls == {"GET thing": 1} and len(rsps.calls) == 1


def test_the_budget_is_asked_before_counting_or_sending(clock, rsps):
    rsps.get(URL, json={})
    http = make_http(clock, SpentBudget())
    with pytest.raises(RateLimited):
        http.send("GET", URL, "GET thing", pool="api", limit=Limit(1, 1.0))
    assert http.calls == {} and len(rsps.calls) == 0


def test_a_window_that_is_full_refuses_until_its_oldest_call_leaves(clock, rsps):
    rsps.get(URL, json={})
    http = make_http(clock)
    limit = Limit(3, 1.0)
    for _ in range(3):
        http.send("GET", URL, "GET thing", pool="api", limit=limit)
    clock.advance(seconds=0.25)
    with pytest.raises(RateLimited) as caught:
        http.send("GET", URL, "GET thing", pool="api", limit=limit)
    assert caught.value.retry_after == pytest.approx(0.75)
    clock.advance(seconds=0.75)
    http.send("GET", URL, "GET thing", pool="api", limit=limit)
    assert http.calls == {"GET thing": 4} and len(rsps.calls) == 4


def test_a_paused_connector_sends_nothing_until_the_pause_ends(clock, rsps):
    rsps.get(URL, json={})
    http = make_http(clock)
    error = http.pause(clock() + timedelta(hours=1), "daily API limit reached")
    assert isinstance(error, Paused) and error.until == clock() + timedelta(hours=1)
    with pytest.raises(Paused):
        http.send("GET", URL, "GET thing", pool="api", limit=None)
    assert len(rsps.calls) == 0
    clock.advance(hours=1)
    http.send("GET", URL, "GET thing", pool="api", limit=None)
    assert len(rsps.calls) == 1


def test_retry_after_as_seconds_or_an_http_date(clock):
    assert retry_after_seconds(answer(429, {"Retry-After": "7"}), clock()) == 7.0
    assert retry_after_seconds(answer(429, {"Retry-After": "Fri, 20 Nov 2026 03:00:30 GMT"}), clock()) == 30.0
    assert retry_after_seconds(answer(429, {"Retry-After": "soon"}), clock()) is None
    assert retry_after_seconds(answer(429), clock()) is None


@pytest.mark.parametrize(
    ("status", "headers", "error", "retry_after"),
    [
        (429, {"Retry-After": "30"}, RateLimited, 30.0),
        (429, {}, RateLimited, 1.0),
        (503, {"Retry-After": "120"}, Transient, 120.0),
        (502, {}, Transient, None),
        (401, {}, AuthError, None),
        (400, {}, Permanent, None),
    ],
)
def test_statuses_map_to_errors_with_the_wait_the_system_asked(clock, status, headers, error, retry_after):
    mapped = error_for_status("test", answer(status, headers), clock(), message="nope", auth_setting="TEST_TOKEN")
    assert type(mapped) is error
    assert getattr(mapped, "retry_after", None) == retry_after
    assert "PATCH /thing: " in str(mapped) and "taro" not in str(mapped)  # the query may hold record data


def test_connection_failures_are_transient_and_name_no_url(clock, rsps):
    rsps.get(URL, body=requests.ConnectionError(f"cannot reach {URL}?token=abc"))
    http = make_http(clock)
    with pytest.raises(Transient) as caught:
        http.send("GET", URL, "GET thing", pool="api", limit=None)
    assert str(caught.value) == "test: GET thing: could not connect"
    assert len(rsps.calls) == 1  # not sent again


def test_every_request_has_a_timeout(clock, monkeypatch):
    seen = {}

    def fake_request(self, method, url, **kwargs):
        seen.update(kwargs)
        response = requests.Response()
        response.status_code = 200
        return response

    monkeypatch.setattr(requests.Session, "request", fake_request)
    make_http(clock).send("GET", URL, "GET thing", pool="api", limit=None)
    connect, read = seen["timeout"]
    assert 0 < connect <= 10 and 0 < read <= 120


@responses.activate
def test_calls_are_counted_per_endpoint(clock):
    responses.get(URL, json={})
    http = make_http(clock)
    for _ in range(2):
        http.send("GET", URL, "GET thing", pool="api", limit=None)
    http.send("GET", URL, "GET other", pool="api", limit=None)
    assert http.calls == {"GET thing": 2, "GET other": 1}
