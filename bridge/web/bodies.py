"""Request bodies: read whole, or refused with 413 past MAX_CONTENT_LENGTH, with or without Content-Length."""

from __future__ import annotations

import io

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

_READ_WHOLE = "bridge.body_read_whole"  # environ key: the chunked body is already read and handed to Werkzeug


def refuse_oversized_body() -> None:
    """For every request (a before_request hook): a body sent without Content-Length (chunked) is read whole now,
    or refused with 413 when it is over the limit. Werkzeug stops reading such a body at exactly the limit and
    says nothing, so get_data, get_json and form would see it cut short and process it. A body with a
    Content-Length is left to Werkzeug, which refuses a declared length over the limit."""
    environ = request.environ
    if request.content_length is not None or not environ.get("wsgi.input_terminated") or environ.get(_READ_WHOLE):
        return
    # Read one byte past the limit to tell a body of exactly the limit from a longer one (the server ends the
    # stream at the last chunk).
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    stream, parts, size = environ["wsgi.input"], [], 0
    while size <= limit:
        part = stream.read(min(64 * 1024, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    else:
        raise RequestEntityTooLarge()
    # Hand the whole body to Werkzeug, which caches it: get_json and form then parse these same bytes.
    environ["wsgi.input"], environ[_READ_WHOLE] = io.BytesIO(b"".join(parts)), True
    request.get_data(cache=True)


def read_body() -> bytes:
    """The whole request body, or 413 when it is over MAX_CONTENT_LENGTH, whether or not Content-Length says so."""
    refuse_oversized_body()  # already done by the hook in an app from create_app; here for any other caller
    return request.get_data(cache=True)
