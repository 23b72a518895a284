"""HubSpot webhook deliveries: contact changes as signed (v3) JSON arrays of up to 100 events."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import requests

from connectors.hubspot import sign_v3
from connectors.sandbox.config import DeliveryConfig, HubSpotConfig
from connectors.sandbox.delivery import DeliveryLog, Dispatcher, Outcome, post
from connectors.sandbox.hubspot_store import UI_USER_ID, Change

# https://developers.hubspot.com/docs/api/webhooks: "up to 100" events per request.
MAX_EVENTS = 100
CRM_USER = f"userId:{UI_USER_ID}"  # the sourceId of changes made "in the UI" through the control API


class HubSpotWebhooks:
    def __init__(self, config: HubSpotConfig, delivery: DeliveryConfig, log: DeliveryLog) -> None:
        self._config = config
        self._delivery = delivery
        self._lock = threading.Lock()
        self._event_ids = itertools.count(1)
        self._subscriptions: dict[str, int] = {}
        self._session = requests.Session()
        self.dispatcher = Dispatcher("hubspot", self._deliver, delivery, log, max_batch=MAX_EVENTS)

    def on_changes(self, changes: list[Change]) -> None:
        """Queue an event per subscribed change; API writes included, as HubSpot does."""
        if not self._config.webhook_url:
            return
        subscribed = self._config.subscribed_properties
        for change in changes:
            if change.property is None or subscribed is None or change.property in subscribed:
                self.dispatcher.put(self._event(change))

    def _subscription_id(self, key: str) -> int:
        with self._lock:
            return self._subscriptions.setdefault(key, 1_200_000 + len(self._subscriptions))

    def _event(self, change: Change) -> dict[str, Any]:
        if change.deleted:
            kind = "contact.deletion"
        else:
            kind = "contact.creation" if change.property is None else "contact.propertyChange"
        with self._lock:
            event_id = next(self._event_ids)
        event: dict[str, Any] = {
            "eventId": event_id,
            "subscriptionId": self._subscription_id(f"{kind}:{change.property or ''}"),
            "portalId": self._config.portal_id,
            "appId": self._config.app_id,
            "occurredAt": int(change.occurred_at.timestamp() * 1000),
            "subscriptionType": kind,
            "attemptNumber": 0,
            "objectId": int(change.contact_id),
        }
        if change.deleted:
            event["changeFlag"] = "DELETED"
        elif change.property is None:
            event["changeFlag"] = "NEW"
        else:
            event["propertyName"] = change.property
            event["propertyValue"] = change.value or ""
        event["changeSource"] = change.source
        if change.source == "CRM":
            event["sourceId"] = CRM_USER
        return event

    def _deliver(self, events: list[dict[str, Any]], attempt: int) -> Outcome:
        url = self._config.webhook_url or ""
        body = json.dumps([{**e, "attemptNumber": attempt} for e in events], separators=(",", ":")).encode()
        if not url:
            return Outcome(url, body.decode(), ok=False, error="no webhook_url configured")
        # Signed with the real clock: the receiver checks the timestamp against its own.
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": sign_v3(self._config.client_secret, "POST", url, body, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp,
        }
        return post(
            self._session,
            url,
            body,
            headers,
            self._delivery.timeout,
            lambda r: 200 <= r.status_code < 300,
        )
