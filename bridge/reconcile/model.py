"""What a reconciliation finds: one `Drift` per difference, with what --doit does about it, gathered in a `Plan`."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from dataclasses import field as default
from typing import Any

#: Kinds of drift, in the order a report lists them.
#: missing: a handed-off lead has no record in a target; differs: a mapped field differs between the sides;
#: deleted: a lead's record was deleted on one side; orphan: a record carrying Bridge's key that no lead has;
#: duplicate: two target records for one HubSpot id or one email; writeback: a sales value HubSpot never got;
#: stale: HubSpot's Bridge score, stage or temperature lags Bridge's own.
KINDS = ("missing", "differs", "deleted", "orphan", "duplicate", "writeback", "stale")
#: What --doit does with an item: upsert (the route's write again), feedback (HubSpot hears what sales holds),
#: writeback (Bridge's score, stage and temperature written to HubSpot), person (nothing: someone must decide).
ACTIONS = ("upsert", "feedback", "writeback", "person")
#: Sides a drift item may name as changed.
SIDES = ("hubspot", "salesforce", "kintone", "bridge")


@dataclass(frozen=True)
class Drift:
    """One difference between the systems, and what to do about it.

    `reason` is a code the report words in Japanese and English (bridge/reconcile/words.py), with `details` as
    its values; `expected` is what Bridge's mappings say the record should hold, `actual` what it holds.
    """

    kind: str
    system: str  # where the drift is: the system whose record is missing, differs, is orphaned …
    object: str
    action: str
    reason: str
    lead_id: int | None = None
    lead_name: str | None = None
    record_id: str | None = None
    field: str | None = None
    expected: Any = None
    actual: Any = None
    changed_side: str | None = None
    changed_at: str | None = None
    changed_by: str | None = None
    details: dict[str, Any] = default(default_factory=dict, compare=False)

    @property
    def automatic(self) -> bool:
        """Whether --doit repairs it (otherwise a person decides)."""
        return self.action != "person"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Plan:
    """A reconciliation's findings: how many records were compared per system, and every drift item."""

    mode: str  # full | incremental
    compared: Counter[str] = default(default_factory=Counter)  # system -> records compared
    items: list[Drift] = default(default_factory=list)

    def counts(self) -> Counter[str]:
        """Drift items per kind."""
        return Counter(item.kind for item in self.items)

    def repairs(self) -> list[Drift]:
        return [item for item in self.items if item.automatic]

    def needs_person(self) -> list[Drift]:
        return [item for item in self.items if not item.automatic]

    def share(self) -> float:
        """The share of compared records --doit would change: leads with a repair over records compared, so a
        lead whose three fields differ counts once."""
        compared = max(self.compared.values(), default=0)
        if not compared:
            return 0.0
        touched = {(item.lead_id, item.action, item.system) for item in self.repairs()}
        return len(touched) / compared


#: Every reason code a Drift may carry, with the `details` keys its words use (bridge/reconcile/words.py).
REASONS: dict[str, tuple[str, ...]] = {
    # missing: the lead was handed off, its route applies, and no record holds its key: the handoff is sent again.
    "not_in_target": ("route", "key_field"),
    # differs: the route says HubSpot's value wins (direction to_target, or conflict source_wins / newest_wins / a
    # blank target under target_unless_blank): the route's write is sent again.
    "source_wins": ("route", "rule"),
    # differs: the conflict rule keeps sales' value (target_wins, target_unless_blank, newest_wins): HubSpot hears it.
    "target_wins": ("route", "rule"),
    # deleted: the lead's record is gone from a target; Bridge does not re-create what a person deleted.
    "deleted_in_target": ("route", "deleted_at"),
    # deleted: the lead's HubSpot contact is gone (deleted or merged away in HubSpot).
    "deleted_in_hubspot": (),
    # orphan: a target record carries Bridge's key (key_field = value) but no lead of Bridge has that HubSpot id.
    "no_lead": ("route", "key_field", "key"),
    # duplicate: several target records hold one HubSpot id in the key field, or one email address.
    "same_key": ("route", "key_field", "key", "records"),
    "same_email": ("route", "email", "records"),
    # writeback: a field sales owns (direction to_source / both) holds a value HubSpot does not have yet.
    "sales_value_missing": ("route",),
    # stale: HubSpot's bridge_score / bridge_stage / bridge_temperature differs from Bridge's own value.
    "score_stale": (),
}
