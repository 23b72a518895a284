"""Evaluation of one lead: a pure function of (lead, activities, rules, now) that explains itself."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from bridge.handoff.rules import STAGES, AttributeRule, BehaviourRule, Criterion, Exclusion, Rules


@dataclass(frozen=True)
class Activity:
    type: str
    occurred_at: datetime


@dataclass(frozen=True)
class Fired:
    """A scoring rule that gave points, and the evidence."""

    rule: str
    points: int
    because: str


@dataclass(frozen=True)
class CriterionResult:
    name: str
    matched: bool
    checks: tuple[str, ...]  # each condition with the lead's value, e.g. "score 85 < 100"


@dataclass(frozen=True)
class Decision:
    score: int
    attribute_score: int
    behaviour_score: int
    stage: str
    temperature: str
    excluded: str | None  # the exclusion that applies, if any
    qualifies: bool
    criterion: str | None  # the first criterion that matched
    fired: tuple[Fired, ...]
    criteria: tuple[CriterionResult, ...]

    def summary(self) -> str:
        """One line for people: why the lead was or was not handed off."""
        head = f"score {self.score} ({self.attribute_score} attributes + {self.behaviour_score} behaviour), " \
               f"{self.stage}, {self.temperature}"
        if self.excluded:
            return f"excluded ({self.excluded}); {head}"
        if self.qualifies:
            checks = next(c.checks for c in self.criteria if c.name == self.criterion)
            return f"handoff by {self.criterion}: {', '.join(checks)}; {head}"
        missing = "; ".join(f"{c.name}: {', '.join(x for x in c.checks if ' < ' in x)}" for c in self.criteria)
        return f"not yet ({missing}); {head}"

    def as_dict(self) -> dict:
        return asdict(self)


def normalise(text: object) -> str:
    """NFKC folds full-width letters and half-width katakana; casefold makes 'CEO' match 'ceo'."""
    return unicodedata.normalize("NFKC", str(text)).casefold().strip()


@lru_cache(maxsize=4096)
def _keyword_pattern(keyword: str) -> re.Pattern:
    word = normalise(keyword)
    if word.isascii():
        # ASCII keywords match whole words, or 'IT' would match 'Security' and 'Hospitality'.
        return re.compile(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])")
    return re.compile(re.escape(word))  # Japanese has no spaces between words: a substring is a match


def matching_keyword(value: object, keywords: Sequence[str]) -> str | None:
    text = normalise(value)
    return next((k for k in keywords if _keyword_pattern(k).search(text)), None)


def _number(value: object) -> float | None:
    try:
        return float(str(value).replace(",", ""))
    except ValueError:
        return None


def _attribute_hit(rule: AttributeRule, value: object) -> str | None:
    """The evidence when the rule holds for `value`, else None."""
    blank = value is None or str(value).strip() == ""
    if rule.op == "present":
        return None if blank else f"{rule.field} is set"
    if rule.op == "absent":
        return f"{rule.field} is empty" if blank else None
    if blank:
        return None
    shown = f'{rule.field} "{value}"'
    if rule.op == "equals":
        return f"{shown} = {rule.value}" if normalise(value) == normalise(rule.value) else None
    if rule.op == "one_of":
        listed = {normalise(v) for v in rule.value}
        return f"{shown} is one of the listed values" if normalise(value) in listed else None
    if rule.op == "contains_any":
        keyword = matching_keyword(value, rule.value)
        return f"{shown} contains {keyword}" if keyword else None
    number = _number(value)
    if number is None:
        return None
    compare = {"at_least": number >= rule.value, "at_most": number <= rule.value,
               "greater_than": number > rule.value, "less_than": number < rule.value}[rule.op]
    return f"{shown} {rule.op.replace('_', ' ')} {rule.value}" if compare else None


def _exclusion_hit(rule: Exclusion, lead: Mapping[str, object]) -> str | None:
    value = lead.get(rule.field)
    if value is None or str(value).strip() == "":
        return None
    if rule.op == "domain_in":
        domain = normalise(value).rpartition("@")[2]
        hit = next((d for d in rule.values if domain == normalise(d) or domain.endswith("." + normalise(d))), None)
        return f"{rule.name}: {rule.field} domain {domain}" if hit else None
    if rule.op == "contains_any":
        keyword = matching_keyword(value, rule.values)
        return f"{rule.name}: {rule.field} contains {keyword}" if keyword else None
    values = {normalise(v) for v in rule.values}
    return f'{rule.name}: {rule.field} "{value}"' if normalise(value) in values else None


def _in_window(activity: Activity, now: datetime, days: int | None) -> bool:
    return activity.occurred_at <= now and (days is None or activity.occurred_at > now - timedelta(days=days))


def _behaviour_points(rule: BehaviourRule, activities: Sequence[Activity], now: datetime) -> tuple[int, int]:
    """(count in window, points) for one activity type."""
    count = sum(1 for a in activities if a.type == rule.activity and _in_window(a, now, rule.window_days))
    if count < rule.min_count:
        return count, 0
    points = count * rule.points
    return count, points if rule.cap is None else min(points, rule.cap)


def _stage(score: int, rules: Rules) -> str:
    return [name for name, minimum in rules.stages if score >= minimum][-1] if rules.stages else STAGES[0]


def _criterion(criterion: Criterion, score: int, stage: str, activities: Sequence[Activity], now: datetime,
               rules: Rules) -> CriterionResult:
    checks, ok = [], True
    if criterion.score_at_least is not None:
        passed = score >= criterion.score_at_least
        checks.append(f"score {score} {'≥' if passed else '<'} {criterion.score_at_least}")
        ok &= passed
    if criterion.stage_at_least is not None:
        order = [name for name, _ in rules.stages]
        passed = order.index(stage) >= order.index(criterion.stage_at_least)
        checks.append(f"stage {stage} {'≥' if passed else '<'} {criterion.stage_at_least}")
        ok &= passed
    counts = Counter(a.type for a in activities if _in_window(a, now, criterion.within_days))
    for activity, minimum in criterion.activities:
        passed = counts[activity] >= minimum
        checks.append(f"{activity} {counts[activity]} {'≥' if passed else '<'} {minimum}")
        ok &= passed
    return CriterionResult(criterion.name, ok, tuple(checks))


def evaluate(lead: Mapping[str, object], activities: Sequence[Activity], rules: Rules, now: datetime) -> Decision:
    """Score the lead, place it in a stage and temperature, and decide whether it is handed off now."""
    fired: list[Fired] = []
    best_in_group: dict[str, Fired] = {}
    for rule in rules.attributes:
        because = _attribute_hit(rule, lead.get(rule.field))
        if because is None:
            continue
        hit = Fired(rule.name, rule.points, because)
        if rule.group is None:
            fired.append(hit)
        elif rule.group not in best_in_group or rule.points > best_in_group[rule.group].points:
            best_in_group[rule.group] = hit
    fired += best_in_group.values()
    attribute_score = sum(f.points for f in fired)

    behaviour_score = 0
    for rule in rules.behaviours:
        count, points = _behaviour_points(rule, activities, now)
        if points:
            behaviour_score += points
            window = f" in {rule.window_days} days" if rule.window_days else ""
            capped = " (capped)" if rule.cap is not None and points == rule.cap else ""
            fired.append(Fired(rule.activity, points, f"{count} × {rule.activity}{window}{capped}"))

    recent = [a for a in activities if _in_window(a, now, rules.temperature.window_days)]
    recent_points = sum(_behaviour_points(rule, recent, now)[1] for rule in rules.behaviours)
    temperature = "hot" if recent_points >= rules.temperature.hot else \
        "warm" if recent_points >= rules.temperature.warm else "cold"

    score = attribute_score + behaviour_score
    stage = _stage(score, rules)
    excluded = next((hit for rule in rules.exclusions if (hit := _exclusion_hit(rule, lead))), None)
    results = tuple(_criterion(c, score, stage, activities, now, rules) for c in rules.criteria)
    matched = next((r.name for r in results if r.matched), None)
    return Decision(
        score=score, attribute_score=attribute_score, behaviour_score=behaviour_score, stage=stage,
        temperature=temperature, excluded=excluded, qualifies=matched is not None and excluded is None,
        criterion=matched, fired=tuple(fired), criteria=results,
    )
