"""The Sandbox (the three simulators and their shared knobs) and create_app() serving it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import datetime

from flask import Flask, Response, request

from bridge.kernel.clock import utcnow
from connectors.sandbox.config import SandboxConfig
from connectors.sandbox.control import control_blueprint
from connectors.sandbox.controls import LOSE_RESPONSE, LOST, CallLog, FailurePlan, LoseResponses
from connectors.sandbox.delivery import DeliveryLog, Dispatcher
from connectors.sandbox.hubspot import PREFIX as HUBSPOT_PREFIX
from connectors.sandbox.hubspot import HubSpotSim
from connectors.sandbox.kintone import PREFIX as KINTONE_PREFIX
from connectors.sandbox.kintone import KintoneSim
from connectors.sandbox.salesforce import LOGIN_PREFIX, SalesforceSim

SYSTEMS = ("hubspot", "salesforce", "kintone")


class Sandbox:
    """In-memory HubSpot, Salesforce and kintone; `base_url` is where the server listens."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
        base_url: str = "http://127.0.0.1",
    ) -> None:
        self.config = config or SandboxConfig()
        self.clock = clock
        self.base_url = base_url
        self.calls = CallLog()
        self.failures = FailurePlan()
        self.inject_configured_faults()
        self.deliveries = DeliveryLog()
        delivery = self.config.delivery
        self.hubspot = HubSpotSim(self.config.hubspot, clock, self.failures, delivery, self.deliveries)
        self.salesforce = SalesforceSim(
            self.config.salesforce,
            clock,
            self.failures,
            delivery,
            self.deliveries,
            lambda: self.base_url,
        )
        self.kintone = KintoneSim(
            self.config.kintone,
            clock,
            self.failures,
            delivery,
            self.deliveries,
            lambda: self.kintone_url,
        )

    @property
    def hubspot_url(self) -> str:
        return self.base_url + HUBSPOT_PREFIX

    @property
    def salesforce_url(self) -> str:
        return self.base_url + LOGIN_PREFIX

    @property
    def kintone_url(self) -> str:
        return self.base_url + KINTONE_PREFIX

    @property
    def dispatchers(self) -> dict[str, Dispatcher]:
        return {
            "hubspot": self.hubspot.webhooks.dispatcher,
            "salesforce": self.salesforce.outbound.dispatcher,
            "kintone": self.kintone.webhooks.dispatcher,
        }

    def send_webhooks_to(self, bridge_url: str) -> None:
        """Point the three senders at a Bridge's /webhooks/<source>, with the URL tokens it checks."""
        bridge_url = bridge_url.rstrip("/")
        salesforce, kintone = self.config.salesforce, self.config.kintone
        self.config.hubspot.webhook_url = f"{bridge_url}/webhooks/hubspot"
        salesforce.outbound_url = f"{bridge_url}/webhooks/salesforce?token={salesforce.webhook_token}"
        kintone.webhook_url = f"{bridge_url}/webhooks/kintone?token={kintone.webhook_token}"

    def env(self) -> dict[str, str]:
        """The settings that point Bridge and its connectors at this sandbox."""
        hubspot, salesforce, kintone = (
            self.config.hubspot,
            self.config.salesforce,
            self.config.kintone,
        )
        app_ids = list(kintone.apps)
        return {
            "HUBSPOT_API_BASE": self.hubspot_url,
            "HUBSPOT_ACCESS_TOKEN": hubspot.private_app_token,
            "HUBSPOT_CLIENT_ID": hubspot.client_id,
            "HUBSPOT_CLIENT_SECRET": hubspot.client_secret,
            # The sandbox allows 190 requests per 10 s, HubSpot's Professional tier.
            "HUBSPOT_TIER": "professional" if hubspot.rate_limit >= 190 else "free",
            "SALESFORCE_LOGIN_URL": self.salesforce_url,
            "SALESFORCE_CLIENT_ID": salesforce.client_id,
            "SALESFORCE_CLIENT_SECRET": salesforce.client_secret,
            "SALESFORCE_USERNAME": salesforce.username,
            "SALESFORCE_ORG_ID": salesforce.org_id,
            "KINTONE_BASE_URL": self.kintone_url,
            "KINTONE_API_TOKEN": ",".join(kintone.apps[a].api_token for a in app_ids),
            "KINTONE_APP_ID": app_ids[0],
            "KINTONE_APP_IDS": ",".join(app_ids),
            "SALESFORCE_WEBHOOK_TOKEN": salesforce.webhook_token,
            "KINTONE_WEBHOOK_TOKEN": kintone.webhook_token,
        }

    def inject_configured_faults(self) -> None:
        """Restart the draws from the configured seed and inject the configured failures (fresh copies: a failure
        by count is used up as calls take it)."""
        self.failures.reseed(self.config.faults.seed)
        for failure in self.config.faults.failures:
            self.failures.add(replace(failure))

    @contextmanager
    def muted(self) -> Iterator[None]:
        """Changes made by this thread meanwhile send no webhooks (seeding)."""
        with ExitStack() as stack:
            for dispatcher in self.dispatchers.values():
                stack.enter_context(dispatcher.muted())
            yield

    def flush(self, timeout: float = 10.0) -> bool:
        """Send every queued webhook now; True once all of them (retries included) are done."""
        return all(d.flush(timeout) for d in self.dispatchers.values())

    def reset(self) -> None:
        """Forget records, tokens, counters, failures and deliveries; keep the configuration (the configured
        faults are injected again, their draws restarted from the seed)."""
        self.hubspot.reset()
        self.salesforce.reset()
        self.kintone.reset()
        self.calls.reset()
        self.failures.clear()
        self.inject_configured_faults()
        self.deliveries.clear()

    def close(self) -> None:
        for dispatcher in self.dispatchers.values():
            dispatcher.close()


def create_app(sandbox: Sandbox | None = None) -> Flask:
    sandbox = sandbox or Sandbox()
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # kintone answers in Japanese
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep fields in the order the systems use
    app.extensions["sandbox"] = sandbox
    app.register_blueprint(sandbox.hubspot.blueprint())
    app.register_blueprint(sandbox.salesforce.blueprint())
    app.register_blueprint(sandbox.kintone.blueprint())
    app.register_blueprint(control_blueprint(sandbox))
    app.wsgi_app = LoseResponses(app.wsgi_app)  # type: ignore[method-assign]

    @app.after_request
    def count(response: Response) -> Response:
        if request.blueprint in SYSTEMS and request.endpoint:
            status = LOST if request.environ.get(LOSE_RESPONSE) else response.status_code
            sandbox.calls.record(request.endpoint, status)
        return response

    return app
