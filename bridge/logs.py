"""Log output that no logged value can forge: control characters escaped, one record per line, text or JSON."""

from __future__ import annotations

import logging
import re
import sys
from typing import IO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Everything that can end a line or steer a terminal: C0 (newline, CR, ESC, …), DEL, C1 (NEL, CSI, …),
# and the Unicode line and paragraph separators that some viewers and JavaScript break lines on.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_control(text: str) -> str:
    """`a\\nINFO forged` stays on one line as `a\\\\nINFO forged`; Japanese and other printable text is unchanged.

    Backslashes are left alone: a literal `\\n` typed by a sender cannot end a line, and doubling every
    backslash would make Windows paths and patterns in messages harder to read."""
    return _CONTROL.sub(_escape_one, text)


def _escape_one(match: re.Match) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def _continuation(text: str) -> str:
    """A traceback keeps its lines, each indented, so only a record's first line starts at column 0
    (what multi-line log parsers key on) and an exception message cannot start a record of its own."""
    return "\n".join("    " + escape_control(line) for line in text.splitlines())


class _EscapedMessage:
    """Renders `msg % args` and escapes the result before the formatter sees it, restoring the record after
    (other handlers, such as pytest's, get the record as it was logged)."""

    def format(self, record: logging.LogRecord) -> str:
        msg, args = record.msg, record.args
        record.msg, record.args = escape_control(record.getMessage()), None
        try:
            return super().format(record)  # type: ignore[misc]
        finally:
            record.msg, record.args = msg, args


class TextFormatter(_EscapedMessage, logging.Formatter):
    """`2026-11-21 09:00:00,000 INFO bridge.worker.evaluate: lead 12 handed off …`, one line per record
    (tracebacks follow, indented)."""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = None  # another handler may have cached an unescaped traceback on the record
        return super().format(record)

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return _continuation(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 (logging's name)
        return _continuation(stack_info)


def json_formatter() -> logging.Formatter:
    """One JSON object per line: `{"time", "level", "logger", "message", "exc_info"?}`. The JSON encoder
    escapes what is left; Japanese stays readable (not \\u-escaped)."""
    from pythonjsonlogger.json import JsonFormatter

    class EscapedJsonFormatter(_EscapedMessage, JsonFormatter):
        pass

    return EscapedJsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", json_ensure_ascii=False,
                                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of the record (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


def bridge_handler(log_format: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """The handler Bridge logs through: stderr (or `stream`), every record escaped, text or JSON. Also named in
    gunicorn's logging config (bridge/gunicorn_conf.py), so the master's own records go the same way."""
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.bridge = True  # type: ignore[attr-defined]
    handler.setFormatter(json_formatter() if log_format == "json" else TextFormatter(TEXT_FORMAT))
    return handler


def configure(level: str, log_format: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """Send every record to `stream` (stderr) through the escaping formatter. Calling it again replaces
    Bridge's handler and leaves other handlers (gunicorn's, pytest's) alone."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "bridge", False)]:
        root.removeHandler(handler)
    handler = bridge_handler(log_format, stream)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
