"""The SLA policies as plain values: what mappings/sla.yaml says once it has been validated."""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.sla.calendar import BusinessCalendar

#: Who a reminder or an escalation goes to: the lead's owner, the owner's manager, the Slack channel itself.
RECIPIENTS = ("owner", "manager", "channel")
#: What a policy applies to: every lead, the leads of one temperature, or the leads one handoff criterion passed.
SEGMENTS = ("all", "temperature", "criterion")
#: Where a reminder or an escalation can also leave a to-do for the owner: a Salesforce Task on the lead's record,
#: a kintone comment on it that mentions the owner (`task:` in sla.yaml).
TASK_SYSTEMS = ("salesforce", "kintone")


@dataclass(frozen=True)
class Duration:
    """An amount of business time: `amount` business days, hours or minutes on the calendar."""

    amount: int
    unit: str  # days | hours | minutes | seconds (seconds: to try a policy out in real time)

    def __str__(self) -> str:
        ja = {"days": "営業日", "hours": "営業時間", "minutes": "営業分", "seconds": "営業秒"}[self.unit]
        return f"{self.amount} {ja} / {self.amount} business {self.unit}"


@dataclass(frozen=True)
class Reminder:
    before: Duration  # before the first-touch deadline
    to: tuple[str, ...] = ("owner",)
    task: tuple[str, ...] = ()  # the sales systems where the owner also gets a to-do (TASK_SYSTEMS); () none


@dataclass(frozen=True)
class Escalation:
    """What a breach does: tell people, and optionally hand the lead to someone else in the sales system."""

    to: tuple[str, ...] = ("owner", "manager", "channel")
    reassign: dict[str, dict[str, str]] = field(default_factory=dict)  # system → {field: value}, e.g. OwnerId
    task: tuple[str, ...] = ()  # the sales systems where the owner also gets a to-do (TASK_SYSTEMS); () none


@dataclass(frozen=True)
class FollowUp:
    """After `attempts` unanswered attempts at least `spacing` apart, the lead goes back to marketing."""

    attempts: int = 3
    spacing: Duration = Duration(1, "days")
    reason: str = "unreachable"  # a code of feedback.yaml's reason vocabulary (連絡不通)


@dataclass(frozen=True)
class Policy:
    name: str
    segment: str  # all | temperature | criterion
    value: str | None  # the temperature or criterion name
    first_touch: Duration
    reminders: tuple[Reminder, ...] = ()
    escalation: Escalation = Escalation()
    follow_up: FollowUp | None = FollowUp()

    def applies_to(self, temperature: str | None, criterion: str | None) -> bool:
        if self.segment == "all":
            return True
        return (temperature if self.segment == "temperature" else criterion) == self.value

    def task_for(self, key: str) -> tuple[str, ...]:
        """The sales systems where an action (its key: reminder:<n>, breach) leaves the owner a to-do."""
        if key == "breach":
            return self.escalation.task
        kind, _, number = key.partition(":")
        if kind == "reminder" and number.isdigit() and int(number) < len(self.reminders):
            return self.reminders[int(number)].task
        return ()


@dataclass(frozen=True)
class Owner:
    """A person in the sales systems, as the SLA notices name and mention them."""

    id: str  # the system's user id (Salesforce OwnerId, kintone login name)
    name: str
    slack: str | None = None  # Slack member id, e.g. U012AB3CD: mentioned as <@U012AB3CD>
    manager: str | None = None  # the id of the owner's manager, another entry of `owners`


@dataclass(frozen=True)
class SlaRules:
    calendar: BusinessCalendar
    policies: tuple[Policy, ...]
    owners: dict[str, Owner] = field(default_factory=dict)
    owner_fields: dict[str, str] = field(default_factory=dict)  # system → the field holding the owner's id
    recycle: dict[str, dict[str, str]] = field(default_factory=dict)  # system → fields written on recycle

    def policy_for(self, temperature: str | None, criterion: str | None) -> Policy | None:
        """The first policy that applies, in file order (put specific ones first, `all` last)."""
        return next((p for p in self.policies if p.applies_to(temperature, criterion)), None)
