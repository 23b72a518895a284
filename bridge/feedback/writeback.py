"""What marketing hears of a lead's sales events: HubSpot's lead status and lifecycle stage, and the values the
routes' `direction: to_source` fields write back (bridge.sales_*). Pure: a function of the events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.feedback.events import SalesEvent
from bridge.feedback.rules import LIFECYCLE, REOPENING, TOUCHES, FeedbackRules
from bridge.kernel.clock import iso

#: What a sales event says of the lead's outcome, for bridge.sales_outcome.
OUTCOMES = {"won": "won", "lost": "lost", "disqualified": "disqualified", "recycled": "recycled",
            "converted": "converted", "qualified": "qualified"}
#: The values sales events write (through the routes' to_source fields): a new handoff cycle clears them all.
SALES_VALUES = ("bridge.sales_event", "bridge.sales_outcome", "bridge.first_touch_at", "bridge.sales_reason",
                "bridge.sales_reason_value", "bridge.sales_reason_label", "bridge.won_at", "bridge.lost_at",
                "bridge.amount")
#: Where a new handoff cycle starts in HubSpot: a new lead (hs_lead_status NEW), marketing-qualified.
NEW_CYCLE_STATUS, NEW_CYCLE_STAGE = "NEW", "marketingqualifiedlead"


@dataclass(frozen=True)
class Feedback:
    """HubSpot properties to write for a lead, and the lifecycle stage to move it to (None: leave it)."""

    properties: Mapping[str, Any]  # hs_lead_status and the bridge.sales_* values the routes map
    lifecycle: str | None
    backward: bool  # the move goes back (HubSpot needs the stage cleared first)
    #: The stage must land even where HubSpot holds a later one that Bridge did not know of: the lead goes back to
    #: marketing, or starts a new cycle. (A forward move that HubSpot keeps a later stage against is left so.)
    must_land: bool = False


def is_backward(current: str | None, target: str) -> bool:
    """Whether moving from `current` to `target` goes back in HubSpot's order (a custom stage: never)."""
    if not current or current not in LIFECYCLE or target not in LIFECYCLE:
        return False
    return LIFECYCLE.index(target) < LIFECYCLE.index(current)


def feedback(rules: FeedbackRules, events: Sequence[SalesEvent], current_lifecycle: str | None,
             new_cycle: bool = False) -> Feedback:
    """From the lead's events of this handoff cycle, oldest first: the latest word wins for status, lifecycle and
    outcome, except that a touch after sales decided (qualified, converted, won, lost…) does not take the lead
    status back; the first touch, the win, the loss and the amount keep their own dates. `new_cycle`: the lead was
    handed off again after sales gave it back, so the last cycle's word is cleared before this cycle's events."""
    lead_status, lifecycle = dict(rules.lead_status), dict(rules.lifecycle)
    values: dict[str, Any] = dict.fromkeys(SALES_VALUES, "") if new_cycle else {}
    status, stage = (NEW_CYCLE_STATUS, NEW_CYCLE_STAGE) if new_cycle else (None, None)
    must_land, decided = new_cycle, False
    for event in events:
        if not (decided and event.kind in TOUCHES):
            status = lead_status.get(event.kind, status)
        decided = decided or event.kind not in TOUCHES
        if event.kind in lifecycle:
            stage, must_land = lifecycle[event.kind], event.kind in REOPENING
        values["bridge.sales_event"] = event.kind
        if event.kind in OUTCOMES:
            values["bridge.sales_outcome"] = OUTCOMES[event.kind]
        if event.kind in TOUCHES and not values.get("bridge.first_touch_at"):
            values["bridge.first_touch_at"] = iso(event.occurred_at)
        if event.reason:
            values["bridge.sales_reason"] = event.reason
            values["bridge.sales_reason_value"] = event.reason_value
            values["bridge.sales_reason_label"] = _label(rules, event.reason, event.reason_value)
        if event.kind in ("won", "lost"):
            values[f"bridge.{event.kind}_at"] = iso(event.occurred_at)
            if event.details.get("amount") not in (None, ""):
                values["bridge.amount"] = event.details["amount"]
    properties = {**({"hs_lead_status": status} if status else {}), **values}
    if stage is None or (stage == current_lifecycle and not must_land):
        return Feedback(properties, None, False)
    return Feedback(properties, stage, is_backward(current_lifecycle, stage), must_land)


def _label(rules: FeedbackRules, code: str, value: str | None) -> str:
    """`予算なし / No budget`; a value the vocabulary does not know is shown as given."""
    reason = next((r for r in rules.reasons if r.code == code), None)
    return f"{reason.ja} / {reason.en}" if reason else str(value or code)
