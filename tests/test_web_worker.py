"""The read deadlines of the web worker: a request head or body that does not arrive in time gets 408."""

import socket

import pytest
from werkzeug.exceptions import RequestTimeout

from bridge.web_worker import ReadDeadlines, RequestDeadlines


class Ticks:
    def __init__(self):
        self.now = 50.0

    def __call__(self):
        return self.now


@pytest.fixture
def pair():
    server, client = socket.socketpair()
    client.settimeout(5)
    yield server, client
    server.close()
    client.close()


@pytest.fixture
def clock():
    return Ticks()


@pytest.fixture
def deadlines(clock):
    return ReadDeadlines(10, clock)


class SocketBody:
    """The body stream as gunicorn gives it: reads from the socket (short at end-of-file)."""

    def __init__(self, sock):
        self.sock = sock

    def read(self, size=-1):
        return self.sock.recv(size if size > 0 else 65536)


def call(deadlines, sock, app, length="100"):
    environ = {"gunicorn.socket": sock, "wsgi.input": SocketBody(sock), "CONTENT_LENGTH": length}
    return RequestDeadlines(app, deadlines)(environ, lambda status, headers: None)


def test_a_late_head_is_answered_408_and_its_socket_shut(pair, clock, deadlines):
    server, client = pair
    deadlines.reading_head(server)
    clock.now += 9.9
    assert deadlines.sweep() == 0
    clock.now += 0.1
    assert deadlines.sweep() == 1
    answer = client.recv(1000)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n")
    assert b"did not arrive within 10 s" in answer
    assert server.recv(10) == b""  # the thread blocked reading it gets end-of-file
    assert deadlines.reading_body(server) is None  # the application is not run for it


def test_a_body_that_stalls_is_cut_at_its_deadline_with_408(pair, clock, deadlines):
    server, client = pair
    deadlines.reading_head(server)
    clock.now += 9  # the head took 9 s: the body gets its own 10 s
    reads = []

    def app(environ, start_response):
        reads.append(environ["wsgi.input"].read(2))
        clock.now += 10  # then the client stops sending
        assert deadlines.sweep() == 0  # a late body is shut, not answered, by the sweep
        environ["wsgi.input"].read(98)  # end-of-file now, after the deadline
        raise AssertionError("the read should have raised 408")

    client.sendall(b"[{")
    with pytest.raises(RequestTimeout, match="body did not arrive within 10 s"):
        call(deadlines, server, app)
    assert reads == [b"[{"]
    assert server.recv(10) == b""  # the reading side stays shut: gunicorn's drain of the rest ends at once


def test_a_body_that_trickles_past_its_deadline_is_cut(pair, clock, deadlines):
    server, client = pair
    deadlines.reading_head(server)

    def app(environ, start_response):
        for _ in range(20):  # a byte every second
            client.sendall(b" ")
            environ["wsgi.input"].read(1)
            clock.now += 1
        raise AssertionError("the trickle should have been cut")

    with pytest.raises(RequestTimeout):
        call(deadlines, server, app)
    assert clock.now == 60.0  # cut at the first read past 10 s


def test_a_body_read_in_full_stops_its_clock(pair, clock, deadlines):
    server, client = pair
    deadlines.reading_head(server)

    def app(environ, start_response):
        body = environ["wsgi.input"].read(2)
        clock.now += 60  # the application takes its time after reading the body
        deadlines.sweep()
        return [body]

    client.sendall(b"ok")
    assert call(deadlines, server, app, length="2") == [b"ok"]
    client.sendall(b"next request")
    assert server.recv(20) == b"next request"  # never shut: a kept-alive connection goes on


def test_a_request_without_a_body_gets_no_body_deadline(pair, clock, deadlines):
    server, client = pair
    deadlines.reading_head(server)

    def app(environ, start_response):
        clock.now += 60
        deadlines.sweep()
        return [b"done"]

    assert call(deadlines, server, app, length="") == [b"done"]
    client.sendall(b"x")
    assert server.recv(1) == b"x"
