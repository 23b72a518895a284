"""Failed-write alerts: when writes to a target become dead letters, people hear it once per failure episode
(what failed and what to do), and once more when the target recovers. Never silent, never a flood."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bridge.kernel.clock import iso
from bridge.store import Store
from bridge.worker.notify import for_slack, post_to_slack
from bridge.worker.retry import RetryPolicy, backoff

log = logging.getLogger(__name__)

#: A claimed notice is reserved this long, so another worker does not send it too while Slack answers.
SEND_LEASE = timedelta(seconds=60)
#: Notices sent per worker loop at most; the rest wait for the next loop.
PER_LOOP = 10
WHAT_TO_DO_JA = "マッピングかデータを直してから `bridge outbox replay --all` を実行するか、" \
                "管理画面の「送信失敗」(/admin/outbox) で再送してください。"
WHAT_TO_DO_EN = "Fix the mapping or the data, then run `bridge outbox replay --all` or replay them on the admin " \
                "page Failed writes (/admin/outbox)."


def alert_lines(alert: dict, still_dead: int) -> list[str]:
    """The alert, Japanese first and English second, then the reason and the fields (which may quote
    lead data: escaped with the rest)."""
    target, count = alert["target"], alert["count"]
    fields = ", ".join(json.loads(alert["fields"] or "[]")) or "-"
    return [
        f"⚠️ Bridge: {target} ({alert['kind']}) への書き込みが失敗し、{count} 件がデッドレター (未送信) になりました"
        f" (現在 {still_dead} 件)。{WHAT_TO_DO_JA}",
        f"⚠️ Bridge: writes to {target} ({alert['kind']}) failed: {count} dead letter(s) ({still_dead} dead now). "
        f"{WHAT_TO_DO_EN}",
        f"理由 / Reason: {alert['last_reason']}",
        f"項目 / Fields: {fields}",
    ]


def recovery_lines(alert: dict, still_dead: int) -> list[str]:
    target, count, since = alert["target"], alert["count"], alert["first_at"]
    if still_dead:
        left_ja = f"まだ {still_dead} 件のデッドレターが再送を待っています。{WHAT_TO_DO_JA}"
        left_en = f"{still_dead} dead letter(s) still wait for a replay. {WHAT_TO_DO_EN}"
    else:
        left_ja, left_en = "デッドレターは残っていません。", "No dead letters are left."
    return [
        f"✅ Bridge: {target} への書き込みが回復しました ({since} UTC 以降の失敗 {count} 件)。{left_ja}",
        f"✅ Bridge: writes to {target} work again ({count} dead letter(s) since {since} UTC). {left_en}",
    ]


class AlertsStage:
    """Sends the alerts and recovery notices that are due, from the worker loop. A send that fails leaves
    the notice due after a back-off; nothing here waits for Slack longer than one request."""

    name = "alerts"

    def __init__(self, store: Store, slack_webhook_url: str | None, clock: Callable[[], datetime],
                 policy: RetryPolicy):
        self.store = store
        self.slack_webhook_url = slack_webhook_url
        self.clock = clock
        self.policy = policy

    def run_once(self) -> int:
        """Send what is due; never raises (a locked database leaves the notices due for the next loop).
        Returns 0: notices are not work that keeps a draining worker looping."""
        try:
            self.send_due()
        except Exception:
            log.exception("sending failed-write alerts failed; they stay due")
        return 0

    def send_due(self) -> int:
        """Send what is due; return how many were delivered. Stops at the first failure: Slack is down,
        and every further try would only wait for its timeout."""
        sent = 0
        for _ in range(PER_LOOP):
            alert = self.store.alerts.claim(self.clock(), SEND_LEASE)
            if alert is None:
                break
            recovery = alert["notified_at"] is not None
            lines = (recovery_lines if recovery else alert_lines)(alert, self.store.outbox.dead_count(alert["target"]))
            try:
                self._deliver(lines, recovery)
            except Exception as error:  # Slack down or refusing: keep it due, with back-off
                when = self.clock() + backoff(alert["tries"] + 1, self.policy)
                log.error("alert %s for %s could not be sent to Slack (%s); next try at %s. It says: %s",
                          alert["id"], alert["target"], error, iso(when), " | ".join(lines))
                self.store.alerts.failed(alert["id"], str(error), when)
                break
            self.store.alerts.sent(alert["id"], recovery, self.clock())
            sent += 1
        return sent

    def _deliver(self, lines: list[str], recovery: bool) -> None:
        if self.slack_webhook_url:
            post_to_slack(self.slack_webhook_url, "\n".join(for_slack(line) for line in lines))
        elif recovery:
            log.info("%s", " | ".join(lines))
        else:
            log.error("%s", " | ".join(lines))
