"""Fixtures: a sandbox served on a loopback port with a settable clock, API clients, a webhook receiver."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from werkzeug.datastructures import Headers
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from connectors.sandbox import Sandbox, SandboxConfig, serve
from connectors.sandbox.config import DeliveryConfig
from connectors.sandbox.server import QuietHandler

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


class Clock:
    """The sandbox's notion of now; tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Client:
    """requests against one base URL, with the headers an API wants on every call."""

    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers.update(headers or {})

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.base + path, timeout=10, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config() -> SandboxConfig:
    config = SandboxConfig()
    config.delivery = DeliveryConfig(retries=2, retry_delay=0.02, batch_window=0.05, timeout=3)
    return config


@pytest.fixture
def sandbox(config: SandboxConfig, clock: Clock) -> Iterator[Sandbox]:
    with serve(Sandbox(config, clock=clock)) as running:
        yield running.sandbox


@pytest.fixture
def control(sandbox: Sandbox) -> Client:
    return Client(f"{sandbox.base_url}/_sandbox")


@pytest.fixture
def hubspot(sandbox: Sandbox) -> Client:
    token = sandbox.config.hubspot.private_app_token
    return Client(sandbox.hubspot_url, {"Authorization": f"Bearer {token}"})


@pytest.fixture
def salesforce(sandbox: Sandbox) -> Client:
    """A REST client on instance_url, authenticated through the client-credentials flow."""
    config = sandbox.config.salesforce
    reply = requests.post(
        f"{sandbox.salesforce_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        },
        timeout=10,
    ).json()
    return Client(
        reply["instance_url"] + "/services/data/v62.0",
        {"Authorization": f"Bearer {reply['access_token']}"},
    )


@pytest.fixture
def kintone(sandbox: Sandbox) -> Client:
    token = sandbox.config.kintone.apps["1"].api_token
    return Client(f"{sandbox.kintone_url}/k/v1", {"X-Cybozu-API-Token": token})


@dataclass
class Received:
    method: str
    url: str  # as the sender called it, query included
    headers: Headers  # case-insensitive, as a web framework gives them
    query: dict[str, str]
    body: bytes


class Receiver:
    """A webhook listener on a loopback port: records every request, answers as scripted."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.replies: deque[tuple[int, str, str]] = deque()
        self.default = (200, "{}", "application/json")
        self._cond = threading.Condition()
        self.url = ""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or request.full_path
        item = Received(
            request.method,
            f"http://{request.host}{raw}",
            Headers(request.headers),
            request.args.to_dict(),
            request.get_data(),
        )
        with self._cond:
            self.received.append(item)
            status, body, content_type = self.replies.popleft() if self.replies else self.default
            self._cond.notify_all()
        return Response(body, status=status, content_type=content_type)(environ, start_response)

    def reply(self, status: int, body: str = "{}", content_type: str = "application/json") -> None:
        self.replies.append((status, body, content_type))

    def wait(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)


SF_TOKEN = "sf-token-0123456789abcdef"
KINTONE_TOKEN = "kintone-token-0123456789"


@pytest.fixture
def wired(sandbox: Sandbox, receiver: Receiver) -> Sandbox:
    """The sandbox sending its webhooks to the receiver, as it would to a Bridge."""
    sandbox.config.salesforce.webhook_token = SF_TOKEN
    sandbox.config.kintone.webhook_token = KINTONE_TOKEN
    sandbox.send_webhooks_to(receiver.url)
    return sandbox


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = make_server("127.0.0.1", 0, receiver, threaded=True, request_handler=QuietHandler)
    server.daemon_threads = True
    server.block_on_close = False
    receiver.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
