"""Serving the sandbox on a loopback port from a background thread: tests, demo, benchmarks."""

from __future__ import annotations

import threading
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from connectors.sandbox.app import Sandbox, create_app

POLL_SECONDS = 0.01  # how soon stop() takes effect (tests stop a sandbox after each test)


class QuietHandler(WSGIRequestHandler):
    """No access log line per request: tests and benchmarks make thousands."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class RunningSandbox:
    """A started sandbox: its URLs, its state (`sandbox`) and `stop()`; also a context manager."""

    def __init__(self, sandbox: Sandbox, server: BaseWSGIServer) -> None:
        self.sandbox = sandbox
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(POLL_SECONDS,), name="sandbox-http", daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        return self.sandbox.base_url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.sandbox.close()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def serve(sandbox: Sandbox | None = None, host: str = "127.0.0.1", port: int = 0, quiet: bool = True) -> RunningSandbox:
    """Start serving (port 0 picks a free one); the sandbox's base_url becomes where it listens."""
    sandbox = sandbox or Sandbox()
    handler = QuietHandler if quiet else WSGIRequestHandler
    server = make_server(host, port, create_app(sandbox), threaded=True, request_handler=handler)
    # Clients keep connections alive; stopping must not wait for them to hang up.
    server.daemon_threads = True
    server.block_on_close = False  # type: ignore[attr-defined]
    sandbox.base_url = f"http://{host}:{server.server_port}"
    return RunningSandbox(sandbox, server)
