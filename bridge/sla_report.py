"""The SLA figures the admin page /admin/sla and GET /api/sla show: open clocks by owner (due soon, breached), the
clocks recently met, the compliance rate and the median business time to first touch, measured on the calendar in
force."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from bridge.kernel.clock import iso, parse_iso
from bridge.services import Services
from bridge.sla.calendar import BusinessCalendar
from bridge.sla.calendar_schema import DEFAULT_CALENDAR
from bridge.sla.rules import SlaRules
from bridge.store import Store
from bridge.timeline import lead_summary
from bridge.worker.sla_notice import owner_of

#: "Recently met": clocks whose first touch came in time and that ended at most this long ago.
RECENT = timedelta(days=7)
#: The window of the compliance rate and of the median time to first touch.
COMPLIANCE_WINDOW = timedelta(days=30)
#: Rows per list; the counts cover every clock.
MAX_LISTED = 200
LISTS = ("due_soon", "breached", "recently_met")


def business_hours(span: timedelta) -> str:
    """Business time as hours:minutes, e.g. `8:00`: how the clock's log words it."""
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def median_of_counts(counts: Mapping[int, int]) -> float | None:
    """The median of values given as {value: how many times}; None when there are none."""
    total = sum(counts.values())
    if not total:
        return None
    ordered = sorted(counts.items())

    def nth(index: int) -> int:
        seen = 0
        for value, count in ordered:
            seen += count
            if index < seen:
                return value
        raise AssertionError("unreachable: index < total")

    return (nth((total - 1) // 2) + nth(total // 2)) / 2


def in_time(clock: Mapping[str, Any]) -> bool:
    """The first touch came by the deadline, or the clock ended before it without a breach (a lead qualified or
    disqualified straight away). Untouched past the deadline, or touched late: not in time."""
    if clock["touched_at"] is not None:
        return clock["touched_at"] <= clock["deadline"]  # both ISO UTC, so text order is time order
    return clock["state"] == "met"


def current_report(services: Services, limit: int = MAX_LISTED) -> dict[str, Any]:
    """The report on the SLA rules and the routes in force (a saved sla.yaml applies without a restart)."""
    services.mappings.refresh()
    targets = [(route.target.system, route.target.object) for route in services.mappings.targets()]
    return sla_report(services.store, services.mappings.sla, targets, services.clock(), limit)


def sla_report(store: Store, rules: SlaRules | None, targets: Iterable[tuple[str, str]], now: datetime,
               limit: int = MAX_LISTED) -> dict[str, Any]:
    """Everything the SLA page shows, as plain JSON values. `targets`: the (system, object) pairs where handed-off
    leads are written, whose records name the owner (sla.yaml `owner_fields`)."""
    calendar = rules.calendar if rules is not None else DEFAULT_CALENDAR
    horizon = calendar.add(now, 1, "days")  # "due soon": within the next business day
    open_clocks = store.clocks.open_clocks()
    decided = store.clocks.decided_since(now - COMPLIANCE_WINDOW, now)
    untouched = [c for c in open_clocks if c["touched_at"] is None]
    recent_since, now_s, horizon_s = iso(now - RECENT), iso(now), iso(horizon)  # ISO UTC: text order is time order
    lists = {
        "due_soon": [c for c in untouched if now_s < c["deadline"] <= horizon_s],
        "breached": [c for c in untouched if c["deadline"] <= now_s],
        "recently_met": [c for c in decided if c["ended_at"] and c["ended_at"] >= recent_since and in_time(c)],
    }
    records = store.clocks.owner_records({c["lead_id"] for c in [*open_clocks, *lists["recently_met"]]}, targets)
    owner = {c["lead_id"]: owner_of(rules, records.get(c["lead_id"], {})) if rules is not None else None
             for c in [*open_clocks, *lists["recently_met"]]}
    owners: dict[str | None, dict[str, Any]] = {}
    for name, clocks in (("open", open_clocks), *lists.items()):
        for clock in clocks:
            row = owners.setdefault(owner[clock["lead_id"]], {"open": 0, **dict.fromkeys(LISTS, 0)})
            row[name] += 1

    def by_owner(clock: Mapping[str, Any]) -> str:  # named owners by name, then those known by id only, then none
        id = owner[clock["lead_id"]]
        return _owner_name(rules, id) or (f"\uffef{id}" if id else "\uffff")

    for name, clocks in lists.items():  # each owner's clocks together, the most urgent (or the newest) first
        when = "ended_at" if name == "recently_met" else "deadline"
        clocks.sort(key=lambda c, when=when: c[when], reverse=name == "recently_met")
        clocks.sort(key=by_owner)  # stable: keeps the order within each owner
    shown = {name: clocks[:limit] for name, clocks in lists.items()}
    leads = store.leads.by_ids({c["lead_id"] for clocks in shown.values() for c in clocks})
    return {
        "enabled": rules is not None, "zone": str(calendar.zone), "now": iso(now), "due_soon_until": iso(horizon),
        "counts": {"open": len(open_clocks), **{name: len(clocks) for name, clocks in lists.items()}},
        "owners": sorted(({"id": id, "name": _owner_name(rules, id), **counts} for id, counts in owners.items()),
                         key=lambda o: (-o["breached"], -o["due_soon"], o["name"] or o["id"] or "\uffff")),
        **{name: [_clock_view(c, leads.get(c["lead_id"]), owner[c["lead_id"]], rules, calendar, now)
                  for c in clocks] for name, clocks in shown.items()},
        "compliance": _compliance(store, decided, now),
    }


def _owner_name(rules: SlaRules | None, owner: str | None) -> str | None:
    known = rules.owners.get(owner) if rules is not None and owner else None
    return known.name if known is not None else None


def _clock_view(clock: Mapping[str, Any], lead: Mapping[str, Any] | None, owner: str | None,
                rules: SlaRules | None, calendar: BusinessCalendar, now: datetime) -> dict[str, Any]:
    summary = lead_summary(lead) if lead is not None else {"id": clock["lead_id"]}
    view = {key: clock[key] for key in ("id", "lead_id", "cycle", "policy", "state", "started_at", "deadline",
                                        "touched_at", "ended_at", "ended_by", "follow_ups")}
    view["lead"] = {key: summary.get(key) for key in ("id", "name", "email", "company")}
    view["owner"] = {"id": owner, "name": _owner_name(rules, owner)}
    deadline = parse_iso(clock["deadline"])
    if clock["touched_at"] is not None:
        view["first_touch_after"] = business_hours(calendar.between(parse_iso(clock["started_at"]),
                                                                    parse_iso(clock["touched_at"])))
    elif clock["ended_at"] is None and deadline > now:
        view["left"] = business_hours(calendar.between(now, deadline))
    elif clock["ended_at"] is None:
        view["overdue"] = business_hours(calendar.between(deadline, now))
    return view


def _compliance(store: Store, decided: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The share of clocks decided in the window (touched, ended, or past the deadline untouched) that were in
    time, and the median business time to first touch of the touches seen in the window."""
    met = sum(1 for clock in decided if in_time(clock))
    touches = store.clocks.first_touch_minutes(now - COMPLIANCE_WINDOW)
    median = median_of_counts(touches)
    return {"days": COMPLIANCE_WINDOW.days, "clocks": len(decided), "in_time": met,
            "rate": round(met / len(decided), 4) if decided else None, "first_touches": sum(touches.values()),
            "median_first_touch_minutes": median,
            "median_first_touch": None if median is None else business_hours(timedelta(minutes=median))}
