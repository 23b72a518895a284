"""What marketing hears of a lead's sales events: HubSpot's lead status and lifecycle stage, and the values the
routes' `direction: to_source` fields write back (bridge.sales_*). Pure: a function of the events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.feedback.events import SalesEvent
from bridge.feedback.rules import LIFECYCLE, TOUCHES, FeedbackRules
from bridge.kernel.clock import iso

#: What a sales event says of the lead's outcome, for bridge.sales_outcome.
OUTCOMES = {"won": "won", "lost": "lost", "disqualified": "disqualified", "recycled": "recycled",
            "converted": "converted", "qualified": "qualified"}


@dataclass(frozen=True)
class Feedback:
    """HubSpot properties to write for a lead, and the lifecycle stage to move it to (None: leave it)."""

    properties: Mapping[str, Any]  # hs_lead_status and the bridge.sales_* values the routes map
    lifecycle: str | None
    backward: bool  # the move goes back (HubSpot needs the stage cleared first)


def is_backward(current: str | None, target: str) -> bool:
    """Whether moving from `current` to `target` goes back in HubSpot's order (a custom stage: never)."""
    if not current or current not in LIFECYCLE or target not in LIFECYCLE:
        return False
    return LIFECYCLE.index(target) < LIFECYCLE.index(current)


def feedback(rules: FeedbackRules, events: Sequence[SalesEvent], current_lifecycle: str | None) -> Feedback:
    """From the lead's events of this handoff cycle, oldest first: the latest word wins for status, lifecycle and
    outcome; the first touch, the win, the loss and the amount keep their own dates."""
    lead_status, lifecycle = dict(rules.lead_status), dict(rules.lifecycle)
    values: dict[str, Any] = {}
    status = stage = None
    for event in events:
        status = lead_status.get(event.kind, status)
        stage = lifecycle.get(event.kind, stage)
        values["bridge.sales_event"] = event.kind
        if event.kind in OUTCOMES:
            values["bridge.sales_outcome"] = OUTCOMES[event.kind]
        if event.kind in TOUCHES:
            values.setdefault("bridge.first_touch_at", iso(event.occurred_at))
        if event.reason:
            values["bridge.sales_reason"] = event.reason
            values["bridge.sales_reason_value"] = event.reason_value
            values["bridge.sales_reason_label"] = _label(rules, event.reason, event.reason_value)
        if event.kind in ("won", "lost"):
            values[f"bridge.{event.kind}_at"] = iso(event.occurred_at)
            if event.details.get("amount") not in (None, ""):
                values["bridge.amount"] = event.details["amount"]
    properties = {**({"hs_lead_status": status} if status else {}), **values}
    if stage is None or stage == current_lifecycle:
        return Feedback(properties, None, False)
    return Feedback(properties, stage, is_backward(current_lifecycle, stage))


def _label(rules: FeedbackRules, code: str, value: str | None) -> str:
    """`予算なし / No budget`; a value the vocabulary does not know is shown as given."""
    reason = next((r for r in rules.reasons if r.code == code), None)
    return f"{reason.ja} / {reason.en}" if reason else str(value or code)
