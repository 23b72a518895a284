"""Slowloris against a real `bridge serve`: 50 stalled uploads open, and signed webhooks and /healthz still
answer within 1 s; the stalled ones are cut with 408 once the read timeout passes."""

import socket
import time

import pytest
import requests

pytestmark = pytest.mark.slow
READ_TIMEOUT = 6  # seconds: long enough to measure while all 50 are stalled, short enough for a quick test


def stalled(port: int, kind: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT + 10)
    head = b"POST /webhooks/hubspot HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    if kind == "head":  # stops in the middle of its headers
        sock.sendall(head)
    else:  # headers done, then a body that never finishes ("body") or comes a byte at a time ("trickle")
        sock.sendall(head + b"Content-Length: 100000\r\n\r\n[{")
    return sock


def timed(call) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_fifty_stalled_uploads_starve_nothing_and_are_cut_with_408(serve):
    server = serve(BRIDGE_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT))
    kinds = ["head"] * 15 + ["body"] * 20 + ["trickle"] * 15
    sockets = []
    try:
        opened = time.monotonic()
        sockets = [(kind, stalled(server.port, kind)) for kind in kinds]
        time.sleep(0.3)  # let the server's threads take them all
        for round_number in range(2):
            for kind, sock in sockets:
                if kind == "trickle":
                    sock.sendall(b" ")
            webhook, webhook_seconds = timed(lambda n=round_number: server.post_hubspot(100 + n, timeout=10))
            health, health_seconds = timed(lambda: requests.get(f"{server.base}/healthz", timeout=10))
            assert webhook.status_code == 200, webhook.text
            assert health.status_code == 200
            assert webhook_seconds < 1 and health_seconds < 1, (webhook_seconds, health_seconds)
        assert time.monotonic() - opened < READ_TIMEOUT, "the measurement must happen while all 50 are stalled"

        for kind in ("head", "body", "trickle"):
            sock = next(s for k, s in sockets if k == kind)
            answer = sock.recv(1000)  # within the socket timeout: READ_TIMEOUT + 10 s
            assert answer.startswith(b"HTTP/1.1 408 "), (kind, answer)
    finally:
        for _, sock in sockets:
            sock.close()
