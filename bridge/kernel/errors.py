"""The service's error hierarchy: every error a user can cause says what was wrong and what to do."""

from datetime import datetime


class BridgeError(Exception):
    """Base of every error Bridge raises on purpose."""


class ConfigError(BridgeError):
    """Settings are missing or invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"Bridge cannot start, the configuration has {len(problems)} problem(s):\n{lines}")


class WebhookError(BridgeError):
    """A webhook delivery was refused; `status` is the HTTP answer the sender gets."""

    status = 400

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class WebhookNotConfigured(WebhookError):
    """The endpoint's secret is unset: answer 503 so the sender retries once it is configured."""

    status = 503


class WebhookUnauthorized(WebhookError):
    """Signature, token or organisation did not match: a forged or misconfigured sender."""

    status = 401


class WebhookForbidden(WebhookError):
    """Authentic sender, but for an app or object this service does not accept."""

    status = 403


class WebhookInvalid(WebhookError):
    """Authentic but malformed: `field` names what is wrong; the raw body is kept in `rejected`."""

    status = 400

    def __init__(self, field: str, problem: str):
        self.field = field
        super().__init__(f"{field}: {problem}")


class StoreUnavailable(BridgeError):
    """The database could not commit; callers answer 503 so senders retry."""


class ConnectorError(BridgeError):
    """A call to an external system failed. `retriable`: whether the same call may succeed later.

    Messages name the connector, the endpoint and what the system said; never a token or secret.
    """

    retriable = False

    def __init__(
        self, connector: str, message: str, *, code: str | None = None, status: int | None = None
    ):
        self.connector = connector
        self.message = message
        self.code = code  # the system's code, e.g. INVALID_SESSION_ID, CB_VA01, VALIDATION_ERROR
        self.status = status  # the HTTP status, when there was a response
        super().__init__(f"{connector}: {message}")


class AuthError(ConnectorError):
    """Credentials missing, rejected or expired, or a permission lacking; `setting`: what to fix."""

    def __init__(self, connector: str, message: str, *, setting: str | None = None,
                 code: str | None = None, status: int | None = None):
        self.setting = setting
        super().__init__(connector, message, code=code, status=status)


class RateLimited(ConnectorError):
    """The system asked us to slow down; wait `retry_after` seconds before the next call."""

    retriable = True

    def __init__(self, connector: str, message: str, *, retry_after: float,
                 code: str | None = None, status: int | None = None):
        self.retry_after = retry_after
        super().__init__(connector, message, code=code, status=status)


class Transient(ConnectorError):
    """A failure that usually passes (5xx, lock contention, timeout); `retry_after` if given."""

    retriable = True

    def __init__(self, connector: str, message: str, *, retry_after: float | None = None,
                 code: str | None = None, status: int | None = None):
        self.retry_after = retry_after
        super().__init__(connector, message, code=code, status=status)


class Permanent(ConnectorError):
    """The system refused the request as invalid, and would again; `fields` names the fields."""

    def __init__(self, connector: str, message: str, *, fields: tuple[str, ...] = (),
                 code: str | None = None, status: int | None = None):
        self.fields = tuple(fields)
        super().__init__(connector, message, code=code, status=status)


class Paused(ConnectorError):
    """A daily allocation is (nearly) used up: the connector makes no calls until `until` (UTC).

    Retriable, but not by waiting in-process: callers reschedule the work for `until`.
    """

    retriable = True

    def __init__(self, connector: str, message: str, *, until: datetime, code: str | None = None):
        self.until = until
        until_text = until.isoformat(timespec="seconds")
        super().__init__(connector, f"{message}; paused until {until_text}", code=code)
