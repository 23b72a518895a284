"""The handoff rules as plain values: what mappings/handoff.yaml says once it has been validated."""

from __future__ import annotations

from dataclasses import dataclass

ATTRIBUTE_OPS = ("equals", "one_of", "contains_any", "at_least", "at_most", "greater_than", "less_than",
                 "present", "absent")
EXCLUSION_OPS = ("domain_in", "equals", "one_of", "contains_any")
STAGES = ("awareness", "interest", "consideration")  # 認知 → 興味 → 検討
TEMPERATURES = ("cold", "warm", "hot")


@dataclass(frozen=True)
class AttributeRule:
    """Points for a property of the lead, e.g. job title contains 部長 → +20."""

    name: str
    field: str
    op: str  # one of ATTRIBUTE_OPS
    value: object  # a string, number or list, as the op needs; None for present/absent
    points: int
    group: str | None = None  # within a group only the best-scoring rule counts (部長 and 課長 never add up)


@dataclass(frozen=True)
class BehaviourRule:
    """Points per activity of one type, e.g. whitepaper download → +20 each."""

    activity: str
    points: int
    cap: int | None = None  # most points this activity type can give in total
    window_days: int | None = None  # only activities in the last N days count
    min_count: int = 1  # occurrences needed before any points count (product page twice or more)


@dataclass(frozen=True)
class Exclusion:
    """A persona that is never handed off, e.g. free-mail domains, competitors, students."""

    name: str
    field: str
    op: str  # one of EXCLUSION_OPS
    values: tuple[str, ...]


@dataclass(frozen=True)
class Criterion:
    """One AND-group of the handoff rule; the rule is the OR of its criteria."""

    name: str
    score_at_least: int | None = None
    stage_at_least: str | None = None
    activities: tuple[tuple[str, int], ...] = ()  # (activity type, minimum count)
    within_days: int | None = None  # window for the activity counts; None = all time


@dataclass(frozen=True)
class Temperature:
    """Hot / warm / cold from the behaviour points earned in the last `window_days`."""

    window_days: int = 14
    warm: int = 20
    hot: int = 50


@dataclass(frozen=True)
class Rules:
    attributes: tuple[AttributeRule, ...]
    behaviours: tuple[BehaviourRule, ...]
    stages: tuple[tuple[str, int], ...]  # (stage, minimum score), ascending
    temperature: Temperature
    exclusions: tuple[Exclusion, ...]
    criteria: tuple[Criterion, ...]
    #: HubSpot property changes that count as activities: property name -> activity type.
    property_activities: tuple[tuple[str, str], ...] = ()

    @property
    def activity_types(self) -> frozenset[str]:
        """The activity types the rules use: scored by a behaviour rule or counted by a criterion. Any other
        type is kept but changes nothing, which is worth telling the sender (a typo such as webnar_signup)."""
        return frozenset({b.activity for b in self.behaviours}
                         | {activity for criterion in self.criteria for activity, _ in criterion.activities})
