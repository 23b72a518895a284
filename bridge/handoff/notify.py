"""Handoff notices: one Slack incoming-webhook message per batch of handed-off leads, or a log line."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import requests

from bridge.errors import Permanent, RateLimited, Transient

log = logging.getLogger(__name__)

SLACK_TIMEOUT = (5, 10)  # seconds to connect, to read


def notice_line(lead: dict) -> str:
    """One lead per line: `山田 太郎 <taro@example.co.jp> (株式会社サンプル): handoff by … | Salesforce 00Q…`."""
    properties = lead.get("record") or {}
    # Japanese names read family name first.
    name = " ".join(p for p in (properties.get("lastname"), properties.get("firstname")) if p) or "(no name)"
    company = f" ({properties['company']})" if properties.get("company") else ""
    records = [f"{system} {record_id}" for system, record_id in
               (("Salesforce", lead.get("salesforce_id")), ("kintone", lead.get("kintone_id"))) if record_id]
    owner = f" owner {properties['hubspot_owner_id']}" if properties.get("hubspot_owner_id") else ""
    tail = f" | {', '.join(records)}" if records else ""
    return f"{name} <{lead.get('email') or '-'}>{company}{owner}: {lead.get('handoff_reason') or ''}{tail}"


def notify(webhook_url: str | None, leads: Sequence[dict]) -> str:
    """Tell sales about the handed-off leads; returns where the notice went. Raises a ConnectorError
    subclass when Slack refuses (retriable or not), so the outbox can retry or dead-letter it."""
    lines = [notice_line(lead) for lead in leads]
    if not webhook_url:
        for line in lines:
            log.info("handoff: %s", line)
        return "log"
    text = "リードを営業に引き渡しました / Leads handed off to sales:\n" + "\n".join(f"• {line}" for line in lines)
    try:
        response = requests.post(webhook_url, json={"text": text}, timeout=SLACK_TIMEOUT)
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
    return "slack"
