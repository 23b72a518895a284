"""The sandbox's settings: credentials it accepts, limits it enforces, where it sends webhooks, faults it injects."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields
from typing import Any

from connectors.sandbox.controls import Failure


def _secret(prefix: str) -> str:
    return f"{prefix}-{secrets.token_urlsafe(18)}"


@dataclass
class DeliveryConfig:
    """How webhooks leave the sandbox. Real senders retry for hours; the sandbox compresses that."""

    retries: int = 3
    retry_delay: float = 0.5  # seconds before the first retry, doubled each time
    batch_window: float = 0.2  # seconds HubSpot and Salesforce wait to fill a batch
    timeout: float = 5.0  # HubSpot gives up on a listener after 5 s


@dataclass
class HubSpotConfig:
    portal_id: int = 62515
    app_id: int = 54321
    client_id: str = field(default_factory=lambda: _secret("hs-client"))
    # One secret does both jobs in HubSpot: the OAuth client secret and the webhook signing key.
    client_secret: str = field(default_factory=lambda: _secret("hs-secret"))
    refresh_token: str = field(default_factory=lambda: _secret("hs-refresh"))
    private_app_token: str = field(default_factory=lambda: _secret("pat-na1"))
    token_ttl: int = 1800  # OAuth access tokens live 30 minutes
    rate_limit: int = 190  # requests per rolling 10 s (Professional / Enterprise tier)
    search_rate_limit: int = 5  # search requests per second, outside the 10-second bucket
    daily_limit: int | None = None  # 625,000 on Professional; off unless a test needs it
    webhook_url: str | None = None  # the bridge's /webhooks/hubspot
    # Properties with a propertyChange subscription; None subscribes to all of them.
    subscribed_properties: list[str] | None = None
    custom_properties: list[dict[str, Any]] | None = None  # None: the Bridge defaults


@dataclass
class SalesforceConfig:
    org_id: str = "00D5g000004Z1xYEAS"
    user_id: str = "0055g0000000001AAA"  # the integration user: the API's saves are its
    ui_user_id: str = "0055g0000000002AAA"  # the sales rep the control API acts as (LastModifiedById of its saves)
    username: str = "integration@bridge.sandbox"
    client_id: str = field(default_factory=lambda: _secret("3MVG9sandbox"))
    client_secret: str = field(default_factory=lambda: _secret("sf-secret"))
    public_key_pem: str | None = None  # verify JWT signatures when set; otherwise only the claims
    audiences: list[str] = field(
        default_factory=lambda: ["https://login.salesforce.com", "https://test.salesforce.com"]
    )
    token_ttl: int = 7200  # the default session timeout, two hours
    daily_api_limit: int = 15000  # Developer Edition's allocation
    query_batch_size: int = 2000
    outbound_url: str | None = None  # the bridge's /webhooks/salesforce?token=…
    webhook_token: str = field(default_factory=lambda: _secret("sf-webhook"))  # the ?token= above
    # The objects with an outbound message, and the fields each sends: the Lead for handoffs, and the Task and the
    # Opportunity sales feedback follows (mappings/feedback.yaml). An object not named sends nothing.
    outbound_fields: dict[str, list[str]] = field(
        default_factory=lambda: {
            "Lead": ["Id", "FirstName", "LastName", "Email", "Company", "Status", "Disqualification_Reason__c",
                     "OwnerId", "HubSpot_Contact_Id__c", "IsConverted", "ConvertedContactId", "ConvertedOpportunityId",
                     "LastModifiedDate", "SystemModstamp"],
            "Task": ["Id", "WhoId", "WhatId", "Subject", "Status", "TaskSubtype", "CallDisposition", "OwnerId",
                     "CreatedDate", "LastModifiedDate", "SystemModstamp"],
            "Opportunity": ["Id", "Name", "StageName", "IsClosed", "IsWon", "Amount", "CloseDate", "Loss_Reason__c",
                            "OwnerId", "LastModifiedDate", "SystemModstamp"],
        }
    )
    custom_fields: list[dict[str, Any]] | None = None  # None: the Bridge defaults


@dataclass
class KintoneApp:
    name: str = "リード管理"
    api_token: str = field(default_factory=lambda: _secret("kintone-token"))
    fields: list[dict[str, Any]] | None = None  # None: the lead-app defaults
    title_field: str = "company"


@dataclass
class KintoneConfig:
    apps: dict[str, KintoneApp] = field(default_factory=lambda: {"1": KintoneApp()})
    concurrency_limit: int = 100  # concurrent requests per domain
    webhook_url: str | None = None  # the bridge's /webhooks/kintone?token=…
    webhook_token: str = field(default_factory=lambda: _secret("kintone-webhook"))  # the ?token= above
    # kintone sends at most 60 notifications a minute per domain; the 61st change of a minute and later ones are
    # never notified. None: no limit (a benchmark of the webhook path).
    # https://jp.cybozu.help/k/en/user/app_settings/set_webhook/webhook_logs.html
    webhooks_per_minute: int | None = 60


@dataclass
class FaultConfig:
    """Failures injected from the start (and again after a reset), and the seed of the rate failures' draws."""

    seed: int | None = None  # None: different calls fail on each run
    failures: list[Failure] = field(default_factory=list)  # e.g. Failure("kintone.*", 503, rate=0.2)


@dataclass
class SandboxConfig:
    hubspot: HubSpotConfig = field(default_factory=HubSpotConfig)
    salesforce: SalesforceConfig = field(default_factory=SalesforceConfig)
    kintone: KintoneConfig = field(default_factory=KintoneConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)


_SCALARS = (str, int, float, bool, type(None))
# Schema-shaping settings: changing them would orphan stored records, so they are fixed at start (and so is which
# objects send outbound messages).
# The configured failures are too: add and remove failures while running with /_sandbox/failures.
_FIXED = {"custom_properties", "custom_fields", "fields", "apps", "failures", "outbound_fields"}


def _same_kind(current: Any, value: Any) -> bool:
    if current is None or value is None:
        return True
    if isinstance(current, list):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if isinstance(current, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return type(value) is type(current)


def update_settings(target: Any, changes: dict[str, Any]) -> list[str]:
    """Apply {field: value} to a config section; return a problem per key not applied."""
    known = {f.name for f in fields(target)}
    problems = []
    for key, value in changes.items():
        if key not in known or key in _FIXED:
            problems.append(f"{key}: not a setting that can change while running")
        elif not (isinstance(value, (*_SCALARS, list)) and _same_kind(getattr(target, key), value)):
            problems.append(f"{key}: expected a value like {getattr(target, key)!r}")
        else:
            setattr(target, key, value)
    return problems
