"""The service's error hierarchy: every error a user can cause says what was wrong and what to do."""


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
