"""The feedback rules as plain values: what mappings/feedback.yaml says once it has been validated."""

from __future__ import annotations

from dataclasses import dataclass

#: The sales events every system's changes become; the SLA timers count on exactly these.
EVENTS = ("contacted", "attempted", "connected", "qualified", "disqualified", "converted", "won", "lost",
          "recycled")
#: Events that give the lead back to marketing: it may qualify and be handed off again (a new cycle).
REOPENING = frozenset({"recycled", "disqualified"})
#: Events that mean sales reached out (the first touch of the SLA).
TOUCHES = frozenset({"contacted", "attempted", "connected"})
#: HubSpot's default lifecycle stages in their order; the API moves a stage only forward.
# https://knowledge.hubspot.com/records/use-lifecycle-stages
LIFECYCLE = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
             "evangelist", "other")
#: How an object's records become events.
KINDS = ("status", "activity", "deal")


@dataclass(frozen=True)
class Reason:
    """One disqualification or loss reason of the shared vocabulary, and the values that mean it in any system."""

    code: str  # e.g. no_budget
    ja: str  # 予算なし
    en: str  # No budget
    values: tuple[str, ...]  # picklist, enumeration and drop-down values that mean it (compared after NFKC, case-blind)


@dataclass(frozen=True)
class LogRules:
    """A follow-up log kept as a table on the lead's record (a kintone SUBTABLE such as 対応履歴): each new row is
    one touch, told like a Salesforce Task: a call `connected` or `attempted` by its result, an email `contacted`."""

    field: str  # the table field's code
    type_field: str  # the column saying how sales reached out (対応方法)
    calls: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    result_field: str | None = None  # the column with the call's result (結果)
    connected: tuple[str, ...] = ()  # results that mean the person was reached
    time_field: str | None = None  # the column with when it happened (対応日時); else when the record changed


@dataclass(frozen=True)
class ObjectRules:
    """How one object of one sales system becomes sales events.

    status:   a record with a status (Salesforce Lead, a kintone lead app): each new status is an event;
              it may also keep a follow-up log (`log`): each new row of it is a touch;
    activity: a logged touch (Salesforce Task): a call is `connected` or `attempted` by its result, an email
              `contacted`; it is about the lead in `lead_field` (WhoId). With `status_field` and `done`, only a
              task whose status is done (Completed) is a touch: a planned call is not;
    deal:     an opportunity: `won`, or `lost` with a reason, when it closes.
    """

    system: str
    object: str  # "*": every object of the system (every kintone app Bridge writes to)
    kind: str  # one of KINDS
    status_field: str | None = None
    statuses: tuple[tuple[str, str], ...] = ()  # (status value, event)
    reason_field: str | None = None
    converted_field: str | None = None  # Salesforce Lead IsConverted
    converted_links: tuple[tuple[str, str], ...] = ()  # (field, object): the records the conversion made
    lead_field: str | None = None  # activity: the field naming the lead's record (Task.WhoId)
    type_field: str | None = None
    calls: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    result_field: str | None = None
    connected: tuple[str, ...] = ()  # call results that mean the person was reached
    won_field: str | None = None
    closed_field: str | None = None
    amount_field: str | None = None
    date_field: str | None = None
    time_field: str | None = None  # when the record last changed (its events happened then); else when Bridge read it
    done: tuple[str, ...] = ()  # activity: the statuses that mean the task was done (none given: every task counts)
    log: LogRules | None = None  # status: the follow-up log kept on the record

    def matches(self, system: str, object: str) -> bool:
        return self.system == system and self.object in ("*", object)


@dataclass(frozen=True)
class FeedbackRules:
    objects: tuple[ObjectRules, ...]
    reasons: tuple[Reason, ...]
    lifecycle: tuple[tuple[str, str], ...]  # (event, HubSpot lifecycle stage it moves the contact to)
    lead_status: tuple[tuple[str, str], ...]  # (event, HubSpot hs_lead_status it sets)

    def for_object(self, system: str, object: str) -> ObjectRules | None:
        return next((rules for rules in self.objects if rules.matches(system, object)), None)

    def fields(self, system: str, object: str) -> list[str]:
        """The fields to read of a record so that its events can be told."""
        rules = self.for_object(system, object)
        if rules is None:
            return []
        named = (rules.status_field, rules.reason_field, rules.converted_field, rules.lead_field, rules.type_field,
                 rules.result_field, rules.won_field, rules.closed_field, rules.amount_field, rules.date_field,
                 rules.time_field, rules.log.field if rules.log else None,
                 *(name for name, _ in rules.converted_links))
        return sorted({name for name in named if name})
