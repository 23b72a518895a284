"""kintone webhooks: one unsigned JSON notification per single-record change, sent once, at most 60 a minute."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

from connectors.sandbox.config import DeliveryConfig, KintoneConfig
from connectors.sandbox.delivery import DeliveryLog, Dispatcher, Outcome, post
from connectors.sandbox.kintone_schema import AppForm, Stored


class KintoneWebhooks:
    """https://jp.cybozu.help/k/ja/app/process/set_webhook/webhook_notification.html

    kintone documents no retry, so a refused notification is logged and dropped. Past the domain's notifications
    of a minute (`webhooks_per_minute`, on the sandbox's clock) a change is not notified at all: that is logged too.
    """

    def __init__(
        self,
        config: KintoneConfig,
        delivery: DeliveryConfig,
        log: DeliveryLog,
        forms: dict[str, AppForm],
        base_url: Callable[[], str],
    ) -> None:
        self._config = config
        self._delivery = delivery
        self._forms = forms
        self._base_url = base_url
        self._session = requests.Session()
        self._log = log
        self.dispatcher = Dispatcher("kintone", self._deliver, delivery, log, max_batch=1, retries=False)
        self._lock = threading.Lock()
        self._minute: datetime | None = None
        self._in_minute = 0

    def _allowed(self, when: datetime, kind: str, record_id: int) -> bool:
        """Whether this minute's notifications leave room for one more; a change past them is logged, not sent."""
        limit = self._config.webhooks_per_minute
        if limit is None:
            return True
        minute = when.replace(second=0, microsecond=0)
        with self._lock:
            if minute != self._minute:
                self._minute, self._in_minute = minute, 0
            self._in_minute += 1
            if self._in_minute <= limit:
                return True
        error = f"not sent: over {limit} notifications in the minute from {minute:%H:%M} (kintone's limit)"
        self._log.add("kintone", 0, 1, Outcome(self._config.webhook_url or "", f"{kind} record {record_id}",
                                               ok=False, error=error))
        return False

    def on_change(self, app_id: str, kind: str, record: Stored) -> None:
        if not self._config.webhook_url or not self._allowed(record.updated, kind, record.id):
            return
        app = self._config.apps[app_id]
        if kind == "DELETE_RECORD":  # no record left to send: who deleted which record, and when
            self.dispatcher.put(
                {
                    "id": str(uuid.uuid4()),
                    "type": kind,
                    "app": {"id": app_id, "name": app.name},
                    "recordId": str(record.id),
                    "deletedBy": record.modifier,
                    "deletedAt": record.updated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
            return
        self.dispatcher.put(
            {
                "id": str(uuid.uuid4()),
                "type": kind,
                "app": {"id": app_id, "name": app.name},
                "record": self._forms[app_id].render(record),
                "recordTitle": record.values.get(app.title_field, ""),
                "url": f"{self._base_url()}/k/{app_id}/show#record={record.id}",
            }
        )

    def _deliver(self, batch: list[dict[str, Any]], attempt: int) -> Outcome:
        body = json.dumps(batch[0], ensure_ascii=False).encode()
        url = self._config.webhook_url or ""
        if not url:
            return Outcome(url, body.decode(), ok=False, error="no webhook_url configured")
        headers = {"Content-Type": "application/json"}
        return post(
            self._session,
            url,
            body,
            headers,
            self._delivery.timeout,
            lambda r: 200 <= r.status_code < 300,
        )
