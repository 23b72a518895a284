"""A base for connectors over a JSON REST API: the request cycle and batching they share, with small hooks.

Subclass `RestConnector`, set `name`, `auth_setting` and `batch_size`, implement `base_url`, `auth_headers`
and `upsert_batch`, and override the other hooks only when the docstring's "when" applies to your system.
API methods call `self.request(...)` for each request, which:
  1. refuses at once (AuthError naming `auth_setting`) when `api_problem()` says settings are missing;
  2. adds `auth_headers()` (log in or refresh there) and roots the path at `base_url()`;
  3. refuses while the connector is paused, spends one call from the request's budget pool (`limit(pool)`;
     RateLimited without sending when none is left), counts the call, sends it once;
  4. shows the response to `observe`, and turns a status of 300 or more into `classify`'s error;
  5. when that error is an AuthError that `reauthenticate` says a new session fixes, sends once more.
Nothing sleeps: every refusal goes back to the caller, which reschedules the work.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import requests

from bridge.kernel.budget import Budget, Limit, LocalBudget
from bridge.kernel.clock import Clock, utcnow
from bridge.kernel.errors import AuthError, ConnectorError, Paused
from connectors._http import Http, chunks, error_for_status, require_keys
from connectors.base import Connector, UpsertResult

log = logging.getLogger(__name__)

Pair = tuple[str, Mapping[str, Any]]  # (upsert key, record)


class RestConnector(Connector):
    """A connector whose API is HTTP + JSON. Subclasses hold only what their system does differently."""

    #: The setting an authentication problem points at, e.g. "HUBSPOT_ACCESS_TOKEN".
    auth_setting: ClassVar[str]
    #: Records per upsert call; `upsert` splits larger inputs into calls of this size.
    batch_size: ClassVar[int] = 100

    def __init__(self, *, clock: Clock = utcnow, budget: Budget | None = None):
        self.clock = clock
        self.http = Http(self.name, clock, budget if budget is not None else LocalBudget())

    @property
    def calls(self) -> Counter[str]:
        return self.http.calls

    # --- hooks --------------------------------------------------------------------------------

    @abstractmethod
    def base_url(self) -> str:
        """Where request paths are rooted, e.g. https://api.hubapi.com. Log in here when the API's host is
        known only from the login (Salesforce's instance URL)."""

    @abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate a request. Fetch or refresh a token here when it is missing or about
        to expire, with `self.send(..., pool="auth")`."""

    @abstractmethod
    def upsert_batch(self, object: str, key_field: str, batch: Sequence[Pair]) -> list[UpsertResult]:
        """Write one call's worth (≤ batch_size) of (key, record) pairs; one result per pair, in order.
        Raise the ConnectorError of a call refused as a whole."""

    def limit(self, pool: str) -> Limit | None:
        """The rate limit of a budget pool (requests name theirs: `request(..., pool=...)`, default "api").
        Override to declare your system's limits; None (the default) only counts the calls."""
        return None

    def observe(self, response: requests.Response) -> None:
        """See every response, failed or not, before it is mapped. Override to read usage headers (Salesforce's
        Sforce-Limit-Info) or warnings; the default does nothing."""

    def classify(self, response: requests.Response) -> ConnectorError:
        """The error a response of status 300 or more means. Override to read your system's error body and
        handle its own codes, then return `self.http_error(...)` for the generic meaning of the status."""
        return self.http_error(response, message=response.reason)

    def reauthenticate(self, error: AuthError) -> bool:
        """Forget the session and return True when `error` says it expired or was revoked, to send the request
        once more with new credentials. Override for systems whose sessions end early; default False."""
        return False

    # --- the request cycle ----------------------------------------------------------------------

    def request(
        self, method: str, path: str, endpoint: str, *, pool: str = "api", headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """One API request to `path` (below `base_url()`), labelled `endpoint` in `calls`."""
        problem = self.api_problem()
        if problem:
            raise AuthError(self.name, problem, setting=self.auth_setting)
        try:
            return self._authenticated(method, path, endpoint, pool, headers, kwargs)
        except AuthError as error:
            if not self.reauthenticate(error):
                raise
            log.info("%s: %s; authenticating again", self.name, error.message)
            return self._authenticated(method, path, endpoint, pool, headers, kwargs)

    def _authenticated(self, method, path, endpoint, pool, headers, kwargs) -> requests.Response:
        auth = self.auth_headers()
        return self.send(method, self.base_url() + path, endpoint, pool=pool, headers={**auth, **(headers or {})},
                         **kwargs)

    def send(self, method: str, url: str, endpoint: str, *, pool: str, **kwargs: Any) -> requests.Response:
        """One attempt at an absolute `url` (token endpoints call this directly): budget, count, send, map."""
        response = self.http.send(method, url, endpoint, pool=pool, limit=self.limit(pool), **kwargs)
        self.observe(response)
        # Redirects are followed; a 3xx left over (Salesforce's 300 Multiple Choices) is an answer.
        if response.status_code >= 300:
            raise self.classify(response)
        return response

    def http_error(
        self, response: requests.Response, *, message: str, code: str | None = None, fields: tuple[str, ...] = ()
    ) -> ConnectorError:
        """The generic meaning of a failed status, naming `auth_setting` when it is about credentials."""
        return error_for_status(self.name, response, self.clock(), message=message, code=code, fields=fields,
                                auth_setting=self.auth_setting)

    def pause(self, until: datetime, reason: str) -> Paused:
        """Make no call until `until` (a daily allocation used up); returns the error to raise now."""
        return self.http.pause(until, reason)

    # --- batching -------------------------------------------------------------------------------

    def upsert(self, object: str, key_field: str, records: Sequence[Mapping[str, Any]]) -> list[UpsertResult]:
        keys = require_keys(self.name, records, key_field)
        pairs = list(zip(keys, records, strict=True))
        results: list[UpsertResult] = []
        for batch in chunks(pairs, self.batch_size):
            try:
                results += self.upsert_batch(object, key_field, batch)
            except ConnectorError as error:
                if not results:
                    raise  # nothing was written: the upsert failed as a whole
                # Earlier calls were written: keep their outcomes, and hand the rest back with the error that
                # stopped them (a spent budget, say), so only they are sent again.
                return results + [failed(key, error) for key, _ in pairs[len(results):]]
        return results


def failed(key: str, error: ConnectorError) -> UpsertResult:
    """The result of a record that was not written because its call failed as a whole. Retriable when the same
    call may pass later, or once the credentials are fixed."""
    retriable = error.retriable or isinstance(error, AuthError)
    return UpsertResult(
        key, "failed", category="retriable" if retriable else "permanent", code=error.code or type(error).__name__,
        message=str(error), fields=tuple(getattr(error, "fields", ())), error=error,
    )
