"""What a route reads for a lead: a HubSpot record's properties plus Bridge's own bridge.* values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def route_input(properties: Mapping[str, Any], lead: Mapping[str, Any]) -> dict[str, Any]:
    """The record a route applies to: `properties` (the HubSpot contact as read) with the lead's email and HubSpot
    id where the contact lacks them, and the bridge.* values (score, stage, temperature, reason, handoff time)."""
    record = dict(properties)
    record.setdefault("email", lead.get("email"))
    record.setdefault("hs_object_id", lead.get("hubspot_id"))
    record.update({"bridge.score": lead.get("score"), "bridge.stage": lead.get("stage"),
                   "bridge.temperature": lead.get("temperature"), "bridge.reason": lead.get("handoff_reason"),
                   "bridge.handoff_at": lead.get("handed_off_at")})
    return record
