"""The `sandbox` command: serve the three simulators on loopback and print the settings to use them."""

from __future__ import annotations

import shlex
import threading
from pathlib import Path

import click

from connectors.sandbox.app import Sandbox
from connectors.sandbox.config import SandboxConfig
from connectors.sandbox.server import serve


def build(
    bridge_url: str | None,
    hubspot_client_secret: str | None = None,
    hubspot_access_token: str | None = None,
    salesforce_org_id: str | None = None,
    salesforce_client_id: str | None = None,
    salesforce_client_secret: str | None = None,
    salesforce_username: str | None = None,
    salesforce_public_key: Path | None = None,
    salesforce_webhook_token: str | None = None,
    kintone_api_token: str | None = None,
    kintone_app_id: str | None = None,
    kintone_webhook_token: str | None = None,
) -> Sandbox:
    """A sandbox whose credentials are the given ones (so an existing .env keeps working) or new."""
    config = SandboxConfig()
    hubspot, salesforce, kintone = config.hubspot, config.salesforce, config.kintone
    hubspot.client_secret = hubspot_client_secret or hubspot.client_secret
    hubspot.private_app_token = hubspot_access_token or hubspot.private_app_token
    salesforce.org_id = salesforce_org_id or salesforce.org_id
    salesforce.client_id = salesforce_client_id or salesforce.client_id
    salesforce.client_secret = salesforce_client_secret or salesforce.client_secret
    salesforce.username = salesforce_username or salesforce.username
    if salesforce_public_key:
        salesforce.public_key_pem = salesforce_public_key.read_text()
    if kintone_app_id or kintone_api_token:
        app = kintone.apps.pop("1")
        # Several comma-joined tokens may be configured for Bridge; the first is this app's.
        app.api_token = (kintone_api_token or app.api_token).split(",")[0].strip()
        kintone.apps[kintone_app_id or "1"] = app
    salesforce.webhook_token = salesforce_webhook_token or salesforce.webhook_token
    kintone.webhook_token = kintone_webhook_token or kintone.webhook_token
    sandbox = Sandbox(config)
    if bridge_url:
        sandbox.send_webhooks_to(bridge_url)
    return sandbox


def banner(sandbox: Sandbox) -> str:
    lines = [
        f"Sandbox listening on {sandbox.base_url}",
        f"  HubSpot     {sandbox.hubspot_url}",
        f"  Salesforce  {sandbox.salesforce_url}  (instance_url {sandbox.base_url})",
        f"  kintone     {sandbox.kintone_url}",
        f"  control API {sandbox.base_url}/_sandbox",
    ]
    targets = [
        sandbox.config.hubspot.webhook_url,
        sandbox.config.salesforce.outbound_url,
        sandbox.config.kintone.webhook_url,
    ]
    if any(targets):
        lines.append("Webhooks go to:")
        lines += [f"  {target}" for target in targets if target]
    else:
        lines.append("No --bridge-url: changes send no webhooks.")
    lines += ["", "Point Bridge at it with:"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in sandbox.env().items()]
    return "\n".join(lines)


@click.command("sandbox")
@click.option("--port", default=8100, show_default=True, help="loopback port to listen on (0: any)")
@click.option(
    "--bridge-url",
    default=None,
    metavar="URL",
    help="Bridge to send webhooks to, e.g. http://127.0.0.1:8000",
)
@click.option("--hubspot-client-secret", envvar="HUBSPOT_CLIENT_SECRET", help="signs webhooks")
@click.option("--hubspot-access-token", envvar="HUBSPOT_ACCESS_TOKEN", help="private-app token")
@click.option("--salesforce-org-id", envvar="SALESFORCE_ORG_ID")
@click.option("--salesforce-client-id", envvar="SALESFORCE_CLIENT_ID")
@click.option("--salesforce-client-secret", envvar="SALESFORCE_CLIENT_SECRET")
@click.option("--salesforce-username", envvar="SALESFORCE_USERNAME", help="the JWT `sub`")
@click.option(
    "--salesforce-public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="certificate or public key (PEM) to verify JWT assertions; unset: claims only",
)
@click.option("--salesforce-webhook-token", envvar="SALESFORCE_WEBHOOK_TOKEN")
@click.option("--kintone-api-token", envvar="KINTONE_API_TOKEN")
@click.option("--kintone-app-id", envvar="KINTONE_APP_ID")
@click.option("--kintone-webhook-token", envvar="KINTONE_WEBHOOK_TOKEN")
def sandbox(port: int, bridge_url: str | None, **credentials: str | Path | None) -> None:
    """Serve local HubSpot, Salesforce and kintone simulators on 127.0.0.1 until Ctrl-C.

    Credentials come from the options, else from the same variables Bridge reads, else are made up
    and printed. The control API (/_sandbox) seeds records, injects failures and reads call counts.
    """
    running = serve(build(bridge_url, **credentials), port=port, quiet=False)  # type: ignore[arg-type]
    click.echo(banner(running.sandbox))
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        running.stop()
