"""The web worker class: gunicorn's gthread worker, with a deadline for each client to send its request.

A client that sends its request slowly, or stops halfway (slowloris), holds one worker thread while
it does. The deadlines bound that: a request head, and then its body, that has not arrived within
`BRIDGE_READ_TIMEOUT_SECONDS` is answered 408 and the connection is closed, so the thread is free.
README "Slow clients" says why threads and not gevent, and what a reverse proxy adds.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import Any

from gunicorn.workers.gthread import ThreadWorker
from werkzeug.exceptions import RequestTimeout

from bridge.config import settings_or_exit

log = logging.getLogger(__name__)

HEAD, BODY = "head", "body"


def _head_timeout_response(seconds: float) -> bytes:
    body = json.dumps({"error": f"the request head did not arrive within {seconds:g} s"}).encode()
    return (b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


class ReadDeadlines:
    """Sockets whose request head or body is being read, each with the time by which it must have arrived.

    `sweep()` (a thread calls it twice a second) shuts a socket still reading past its deadline, so the
    thread blocked on it reads end-of-file and is free. A late head is answered 408 here; a late body
    is answered 408 by the application, which sees its read come back short after the deadline.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._due: dict[socket.socket, tuple[float, str]] = {}
        self._head_response = _head_timeout_response(seconds)

    def reading_head(self, sock: socket.socket) -> None:
        with self._lock:
            self._due[sock] = (self.clock() + self.seconds, HEAD)

    def reading_body(self, sock: socket.socket) -> float | None:
        """The head has arrived: start the body's clock and return its deadline; None if the head was cut."""
        with self._lock:
            if self._due.pop(sock, None) is None:
                return None
            deadline = self.clock() + self.seconds
            self._due[sock] = (deadline, BODY)
            return deadline

    def done(self, sock: socket.socket) -> None:
        with self._lock:
            self._due.pop(sock, None)

    def sweep(self) -> int:
        """Cut every socket past its deadline; returns how many heads were cut."""
        now = self.clock()
        heads = 0
        with self._lock:  # held while answering, so a head that completes meanwhile cannot interleave a reply
            for sock, (due, phase) in list(self._due.items()):
                if due > now:
                    continue
                del self._due[sock]
                with suppress(OSError):
                    if phase == BODY:
                        sock.shutdown(socket.SHUT_RD)  # the application answers; the write side stays open
                        continue
                    heads += 1
                    if not isinstance(sock, ssl.SSLSocket):  # TLS state belongs to the worker thread
                        sock.send(self._head_response, socket.MSG_DONTWAIT)
                    sock.shutdown(socket.SHUT_RDWR)
        return heads

    def run_sweeper(self) -> None:
        """Sweep twice a second in a daemon thread of this process."""
        def loop() -> None:
            while True:
                time.sleep(0.5)
                if cut := self.sweep():
                    log.warning("cut %d connection(s) whose request head did not arrive within %g s (408)",
                                cut, self.seconds)

        threading.Thread(target=loop, name="read-deadlines", daemon=True).start()


class _BodyWithDeadline:
    """wsgi.input that raises 408 when the body has not arrived by its deadline, however slowly it trickles."""

    def __init__(self, stream: Any, sock: socket.socket, deadline: float, length: int | None,
                 deadlines: ReadDeadlines):
        self.stream, self.sock, self.deadline, self.left, self.deadlines = stream, sock, deadline, length, deadlines

    def _within_deadline(self, read: Callable[..., Any], *args: Any) -> Any:
        try:
            data = read(*args)
        except OSError:
            self._raise_if_late()
            raise
        self._raise_if_late()
        size = len(data) if isinstance(data, bytes) else sum(map(len, data))
        if self.left is not None:
            self.left -= size
        if size == 0 or (self.left is not None and self.left <= 0):
            self.deadlines.done(self.sock)  # all read: the clock stops before the application does its work
        return data

    def _raise_if_late(self) -> None:
        if self.deadlines.clock() >= self.deadline:
            with suppress(OSError):
                self.sock.shutdown(socket.SHUT_RD)  # gunicorn's keep-alive drain of the rest then ends at once
            raise RequestTimeout(f"the request body did not arrive within {self.deadlines.seconds:g} s")

    def read(self, *args: Any) -> bytes:
        return self._within_deadline(self.stream.read, *args)

    def readline(self, *args: Any) -> bytes:
        return self._within_deadline(self.stream.readline, *args)

    def readlines(self, *args: Any) -> list[bytes]:
        return self._within_deadline(self.stream.readlines, *args)

    def __iter__(self):
        return iter(self.readline, b"")


class RequestDeadlines:
    """WSGI middleware: the head has arrived, so its clock stops and the body's starts."""

    def __init__(self, app: Callable, deadlines: ReadDeadlines):
        self.app, self.deadlines = app, deadlines

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        if sock is None:
            return self.app(environ, start_response)
        deadline = self.deadlines.reading_body(sock)
        if deadline is None:  # already answered 408 and shut: nothing more can be said
            start_response("408 Request Timeout", [("Content-Length", "0")])
            return [b""]
        length = environ.get("CONTENT_LENGTH")
        if length in (None, "", "0") and "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            self.deadlines.done(sock)  # no body to wait for
            return self.app(environ, start_response)
        environ["wsgi.input"] = _BodyWithDeadline(environ["wsgi.input"], sock, deadline,
                                                  int(length) if length and length.isdigit() else None, self.deadlines)
        try:
            return self.app(environ, start_response)
        finally:
            self.deadlines.done(sock)


class DeadlineThreadWorker(ThreadWorker):
    """gunicorn's gthread worker whose clients must send each request within the read timeout."""

    def init_process(self) -> None:
        self.deadlines = ReadDeadlines(settings_or_exit().web.read_timeout)
        self.deadlines.run_sweeper()
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = RequestDeadlines(self.wsgi, self.deadlines)

    def enqueue_req(self, conn: Any) -> None:
        # The clock starts when the connection is queued for a thread (a new one at accept, a kept-alive one
        # when bytes arrive), not when a thread takes it: stalled clients queued behind busy threads expire
        # meanwhile, and a thread that takes one finds it already shut. (gunicorn hands a connection that
        # stays silent for 5 s back to its poller, without a thread and without a deadline.)
        self.deadlines.reading_head(conn.sock)
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        sock = conn.sock
        try:
            return super().handle(conn)
        finally:
            self.deadlines.done(sock)
