"""Messages to people: the handoff notice to sales and the failed-write alerts, by Slack incoming webhook
or a log line. Lead-supplied text is escaped so it can neither mention anyone nor disguise a link."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import requests

from bridge.kernel.errors import Permanent, RateLimited, Transient
from bridge.timeline import display_name

log = logging.getLogger(__name__)

#: The sales systems a notice names a lead's records in, as people call them.
SALES_SYSTEMS = {"salesforce": "Salesforce", "kintone": "kintone"}
SLACK_TIMEOUT = (5, 10)  # seconds to connect, to read
# Line and paragraph breaks and other control characters: in a lead's value they would start a line of
# their own in the notice, one that could pass for another lead or for Bridge's own words.
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def for_slack(text: str) -> str:
    """Text Slack shows as it is: `&`, `<` and `>` become entities, so `<!channel>` cannot ping a channel,
    `<@U123>` cannot mention a user and `<https://evil|Click here>` cannot hide a link behind words
    (https://api.slack.com/reference/surfaces/formatting#escaping). Breaks become one space.

    `*`, `_`, `~` and backticks are left alone: Slack has no escape for them, so neutralising them would
    change the value (a zero-width space breaks an address copied from the notice), and all they can do is
    style text, not link, mention or notify."""
    return _BREAKS.sub(" ", text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notice_line(lead: dict) -> str:
    """One lead per line: `山田 太郎 <taro@example.co.jp> (株式会社サンプル): handoff by … | Salesforce 00Q…`."""
    properties = lead.get("record") or {}
    name = display_name(properties) or "(no name)"  # 山田 太郎, but Emily Carter
    company = f" ({properties['company']})" if properties.get("company") else ""
    owner = f" owner {properties['hubspot_owner_id']}" if properties.get("hubspot_owner_id") else ""
    return f"{name} <{lead.get('email') or '-'}>{company}{owner}: {lead.get('handoff_reason') or ''}{_records(lead)}"


def log_line(lead: dict) -> str:
    """The same notice for the log: ids only, no name or email (personal data stays out of the logs),
    e.g. `lead 12 (HubSpot contact 101) by pricing | Salesforce 00Q…`; the lead's page shows the rest."""
    return (f"lead {lead.get('id')} (HubSpot contact {lead.get('hubspot_id') or '-'}) "
            f"by {lead.get('handoff_criterion') or '-'}{_records(lead)}")


def _records(lead: dict) -> str:
    """` | Salesforce 00Q…, kintone 12`: the lead's records in the sales systems."""
    found = lead.get("records") or {}
    records = [f"{name} {found[system]}" for system, name in SALES_SYSTEMS.items() if found.get(system)]
    return f" | {', '.join(records)}" if records else ""


def notify(webhook_url: str | None, leads: Sequence[dict]) -> str:
    """Tell sales about the handed-off leads; returns where the notice went. Raises a ConnectorError
    subclass when Slack refuses (retriable or not), so the outbox can retry or dead-letter it."""
    if not webhook_url:
        for lead in leads:
            log.info("handoff: %s", log_line(lead))
        return "log"
    text = "リードを営業に引き渡しました / Leads handed off to sales:\n" + \
        "\n".join(f"• {for_slack(notice_line(lead))}" for lead in leads)
    post_to_slack(webhook_url, text)
    return "slack"


def post_to_slack(webhook_url: str, text: str) -> None:
    """Post one message; raises RateLimited, Transient or Permanent when Slack does not take it."""
    # No link previews: a URL in a lead's company field would otherwise show a card of that site's choosing.
    payload = {"text": text, "unfurl_links": False, "unfurl_media": False}
    try:
        response = requests.post(webhook_url, json=payload, timeout=SLACK_TIMEOUT)
    except requests.RequestException as error:
        raise Transient("slack", f"could not reach the Slack webhook: {type(error).__name__}") from error
    # https://api.slack.com/messaging/webhooks#handling_errors : 429 carries Retry-After; 4xx bodies
    # such as invalid_token or channel_not_found will not change on retry.
    if response.status_code == 429:
        raise RateLimited("slack", "rate limited", retry_after=float(response.headers.get("Retry-After", "1")),
                          status=429)
    if response.status_code >= 500:
        raise Transient("slack", f"HTTP {response.status_code}", status=response.status_code)
    if response.status_code >= 400:
        raise Permanent("slack", f"HTTP {response.status_code} {response.text[:100]}; check SLACK_WEBHOOK_URL",
                        status=response.status_code)
