"""A follow-up log kept as a table on a sales record (kintone SUBTABLE 対応履歴): its rows, and which are new."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bridge.feedback.rules import LogRules
from bridge.kernel.clock import parse_iso


def rows_of(table: Any) -> dict[str, dict[str, Any]]:
    """A table's rows by row id, each as {column: value}. kintone's REST API and webhooks give a table as
    [{"id": "123", "value": {code: {"type": …, "value": …}}}] (the connector keeps the rows as they come);
    a row without an id cannot be told from the others and is left out.
    https://cybozu.dev/ja/kintone/docs/overview/field-types/#subtable"""
    found: dict[str, dict[str, Any]] = {}
    for row in table if isinstance(table, list) else ():
        if not isinstance(row, Mapping) or row.get("id") in (None, ""):
            continue
        cells = row.get("value") if isinstance(row.get("value"), Mapping) else {}
        found[str(row["id"])] = {code: cell.get("value") if isinstance(cell, Mapping) else cell
                                 for code, cell in cells.items()}
    return found


def new_rows(log: LogRules, before: Mapping[str, Any], after: Mapping[str, Any],
             since: datetime | None) -> list[tuple[str, dict[str, Any], datetime | None]]:
    """(row id, row, its time) of the rows `after` has that `before` did not, oldest first.

    Rows are known by id, so a row edited later (its result changed) is not new. When `before` holds no table
    (Bridge has not seen the log yet: the first read of the record), there is nothing to compare with: a row
    counts when it is dated at or after `since` (when Bridge linked the record to the lead, at the handoff), so
    the history of a record Bridge did not create is not told as new touches; without `since`, or for a row with
    no date, every row counts (Bridge creates the lead's record at the handoff with an empty log)."""
    if log.field not in after:
        return []
    seen = rows_of(before[log.field]) if log.field in before else None
    floor = since.replace(second=0, microsecond=0) if since else None  # kintone keeps date-times to the minute
    found = []
    for row_id, row in rows_of(after[log.field]).items():
        when = _time(log, row)
        if seen is not None and row_id in seen:
            continue
        if seen is None and floor is not None and when is not None and when < floor:
            continue
        found.append((row_id, row, when))
    return sorted(found, key=lambda item: (item[2] is None, item[2] or datetime.min, _number(item[0])))


def _time(log: LogRules, row: Mapping[str, Any]) -> datetime | None:
    stamp = row.get(log.time_field) if log.time_field else None
    try:
        moment = parse_iso(str(stamp)) if stamp else None
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment  # kintone's times are UTC


def _number(row_id: str) -> int:
    return int(row_id) if row_id.isdigit() else 0
