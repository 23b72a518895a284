"""One kintone app's records in memory: add, update, upsert (all or nothing), query, revisions."""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from connectors.sandbox.kintone_query import Query, sort_key
from connectors.sandbox.kintone_schema import (
    API_USER,
    FOLLOW_UP_TIME,
    KEY_TYPES,
    AppForm,
    KintoneError,
    Stored,
    minute,
    text,
)

# https://cybozu.dev/ja/kintone/docs/rest-api/records/add-records/ (100 records per call)
MAX_WRITE = 100
# Where a change came from: kintone sends webhooks for single-record changes only.
SINGLE, MULTI = "single", "multi"


class AppStore:
    def __init__(
        self,
        app_id: str,
        form: AppForm,
        clock: Callable[[], datetime],
        notify: Callable[[str, str, Stored], None],
    ) -> None:
        self.app_id = app_id
        self.form = form
        self._clock = clock
        self._notify = notify
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._records: dict[int, Stored] = {}
            self._index: dict[str, dict[str, int]] = {code: {} for code in self.form.unique}
            self._next_id = 1
            self._ids: list[int] = []  # every record id, ascending: where a seek ($id > n) starts
            self._next_row = 1  # a table row's id: kintone numbers rows across the app, never reusing one

    def get(self, record_id: int) -> Stored | None:
        with self._lock:
            return self._records.get(record_id)

    def select(self, query: Query) -> list[Stored]:
        with self._lock:
            rows = [r for r in self._records.values() if query.where is None or query.where(r)]
        for code, descending in reversed(query.order):
            rows.sort(key=lambda r, c=code: sort_key(r, c, self.form), reverse=descending)
        return rows

    def first(self, query: Query, count: int) -> list[Stored] | None:
        """The first `count` records `query` selects when it orders by $id ascending, read from its `$id >` floor on
        and no further than needed: seek paging reads an app 500 records a call, and filtering and sorting the whole
        app for each call would make reading it quadratic. None for any other order (then use `select`)."""
        if query.order != [("$id", False)]:
            return None
        with self._lock:
            ids, out = self._ids, []
            at = self._floor_position(query)
            while at < len(ids) and len(out) < count:
                record = self._records[ids[at]]
                if query.where is None or query.where(record):
                    out.append(record)
                at += 1
            return out

    def count(self, query: Query) -> int:
        """How many records `query` selects (its totalCount)."""
        if query.where is None or query.only_id_floor:
            with self._lock:
                return len(self._ids) - self._floor_position(query)
        return len(self.select(query))

    def _floor_position(self, query: Query) -> int:
        if query.id_floor is None:
            return 0
        value, inclusive = query.id_floor
        return (bisect_left if inclusive else bisect_right)(self._ids, value)

    def delete(self, record_id: int, actor: dict[str, str] = API_USER) -> Stored:
        """Delete one record, as a user does on its screen: sends DELETE_RECORD (naming who and when)."""
        with self._lock:
            record = self._records.pop(record_id, None)
            if record is None:
                raise KintoneError(404, "GAIA_RE01", f"指定したレコード（id: {record_id}）が見つかりません。")
            self._unindex(record)
            del self._ids[bisect_left(self._ids, record_id)]
            record.updated, record.modifier = self._clock(), actor
        self._notify(self.app_id, "DELETE_RECORD", record)
        return record

    def add(
        self, records: list[Any], path: str, lang: str, source: str, actor: dict[str, str] = API_USER
    ) -> list[Stored]:
        """Add records atomically: every invalid value is reported and nothing is written."""
        errors: dict[str, list[str]] = {}
        prepared = [self.form.coerce(r, path.format(i=i), lang, errors, creating=True) for i, r in enumerate(records)]
        with self._lock:
            self._check_unique([(None, v) for v in prepared], path, lang, errors)
            if errors:
                raise KintoneError(400, "CB_VA01", text("invalid", lang), errors)
            now = self._clock()
            added = []
            for values in prepared:
                added.append(self._insert(values, now, actor))
        if source == SINGLE:
            for record in added:
                self._notify(self.app_id, "ADD_RECORD", record)
        return added

    def update(
        self, items: list[Any], upsert: bool, lang: str, source: str, single: bool = False,
        actor: dict[str, str] = API_USER,
    ) -> list[tuple[Stored, str]]:
        """Update (or upsert) by id or updateKey; a stale revision fails all with GAIA_CO02."""
        errors: dict[str, list[str]] = {}
        with self._lock:
            plan = []
            for index, item in enumerate(items):
                path = "" if single else f"records[{index}]."
                item = item if isinstance(item, dict) else {}
                target = self._target(item, path, upsert, lang, errors)
                creating = target is None
                values = self.form.coerce(item.get("record"), f"{path}record", lang, errors, creating=creating)
                if creating:
                    key = item["updateKey"]
                    values[key["field"]] = str(key["value"])
                plan.append((target, values))
            self._check_unique(plan, "records[{i}].record" if not single else "record", lang, errors)
            if errors:
                raise KintoneError(400, "CB_VA01", text("invalid", lang), errors)
            now = self._clock()
            done = []
            for target, values in plan:
                if target is None:
                    done.append((self._insert(values, now, actor), "INSERT"))
                else:
                    self._unindex(target)
                    self.form.settle_tables(values, target.values, self._row_id)
                    target.values.update(values)
                    target.revision += 1
                    target.updated, target.modifier = now, actor
                    self._reindex(target)
                    done.append((target, "UPDATE"))
        if source == SINGLE:
            for record, operation in done:
                self._notify(self.app_id, "ADD_RECORD" if operation == "INSERT" else "UPDATE_RECORD", record)
        return done

    def change_status(self, record_id: int, status: str, actor: dict[str, str] = API_USER) -> Stored:
        """A rep's process-management action: the record moves to `status`, and kintone records two operations
        (the action and the status change), so the revision goes up by 2. Sends UPDATE_STATUS.
        https://cybozu.dev/ja/kintone/docs/rest-api/records/update-status/"""
        with self._lock:
            record = self._records.get(record_id)
            if record is None:
                raise KintoneError(404, "GAIA_RE01", f"指定したレコード（id: {record_id}）が見つかりません。")
            self.form.check_status(status)
            record.values[self.form.status_field] = status
            record.revision += 2
            record.updated, record.modifier = self._clock(), actor
        self._notify(self.app_id, "UPDATE_STATUS", record)
        return record

    def take_actions(self, items: list[tuple[int, str, str | None]], actor: dict[str, str] = API_USER) -> list[Stored]:
        """Process-management actions (record id, action name, expected revision or None), all or none, as
        PUT records/status.json does: each record moves to its action's status, revision + 2, UPDATE_STATUS each.
        https://cybozu.dev/ja/kintone/docs/rest-api/records/update-statuses/"""
        if not self.form.status_field:
            self.form.check_status("")  # refused: process management is off
        with self._lock:
            moves = []
            for record_id, name, revision in items:
                record = self._records.get(record_id)
                if record is None:
                    raise KintoneError(404, "GAIA_RE01", f"指定したレコード（id: {record_id}）が見つかりません。")
                if str(revision) not in ("None", "", "-1") and str(revision) != str(record.revision):
                    raise KintoneError(
                        409,
                        "GAIA_CO02",
                        "指定したrevisionは最新ではありません。ほかのユーザーがレコードを更新した可能性があります。",
                    )
                moves.append((record, self.form.action(record.values[self.form.status_field], name)["to"]))
            now = self._clock()
            for record, status in moves:
                record.values[self.form.status_field] = status
                record.revision += 2
                record.updated, record.modifier = now, actor
        for record, _ in moves:
            self._notify(self.app_id, "UPDATE_STATUS", record)
        return [record for record, _ in moves]

    def log_follow_up(self, record_id: int, row: dict[str, Any], lang: str,
                      actor: dict[str, str] = API_USER) -> Stored:
        """A rep adds a row to the record's follow-up log (対応履歴) on its screen and saves it, with 対応日時 now
        unless given: the rows already there are kept, the revision goes up by one, and UPDATE_RECORD is sent."""
        table = self.form.follow_up_log()
        with self._lock:
            record = self._records.get(record_id)
            if record is None:
                raise KintoneError(404, "GAIA_RE01", f"指定したレコード（id: {record_id}）が見つかりません。")
            kept = [{"id": r["id"]} for r in record.values.get(table) or []]
            cells = {FOLLOW_UP_TIME: minute(self._clock()), **{code: v for code, v in row.items() if v is not None}}
            written = {table: {"value": [*kept, {"value": {code: {"value": v} for code, v in cells.items()}}]}}
            self.update([{"id": record_id, "record": written}], False, lang, SINGLE, single=True, actor=actor)
            return record

    def _row_id(self) -> str:
        row_id, self._next_row = self._next_row, self._next_row + 1
        return str(row_id)

    def _insert(self, values: dict[str, Any], now: datetime, actor: dict[str, str]) -> Stored:
        self.form.settle_tables(values, None, self._row_id)
        record = Stored(self._next_id, 1, {**self.form.initial(), **values}, now, now, actor, actor)
        self._records[record.id] = record
        self._ids.append(record.id)  # ids only rise: the list stays sorted
        self._next_id += 1
        self._reindex(record)
        return record

    def _unindex(self, record: Stored) -> None:
        for code, index in self._index.items():
            index.pop(record.values.get(code, ""), None)

    def _reindex(self, record: Stored) -> None:
        for code, index in self._index.items():
            if record.values.get(code):
                index[record.values[code]] = record.id

    def _target(
        self, item: dict[str, Any], path: str, upsert: bool, lang: str, errors: dict[str, list[str]]
    ) -> Stored | None:
        """The record an update names, None to insert it (upsert), or a KintoneError."""
        key = item.get("updateKey")
        if key is not None:
            field = self.form.fields.get(key.get("field", "")) if isinstance(key, dict) else None
            if field is None or field["type"] not in KEY_TYPES or not field.get("unique"):
                errors.setdefault(f"{path}updateKey.field", []).append(
                    "重複禁止に設定されている文字列(1行)または数値フィールドを指定してください。"
                )
                return None
            if str(key.get("value", "")) == "":
                errors.setdefault(f"{path}updateKey.value", []).append(text("required", lang))
                return None
            found = self._index[key["field"]].get(str(key["value"]))
            target = self._records.get(found) if found else None
            if target is None and not upsert:
                raise KintoneError(404, "GAIA_RE20", "指定したupdateKeyのレコードが見つかりません。")
        else:
            record_id = str(item.get("id", ""))
            target = self._records.get(int(record_id)) if record_id.isdigit() else None
            if target is None:
                raise KintoneError(404, "GAIA_RE01", f"指定したレコード（id: {record_id}）が見つかりません。")
        revision = str(item.get("revision", "-1"))
        if target is not None and revision not in ("-1", "") and revision != str(target.revision):
            raise KintoneError(
                409,
                "GAIA_CO02",
                "指定したrevisionは最新ではありません。ほかのユーザーがレコードを更新した可能性があります。",
            )
        return target

    def _check_unique(
        self,
        plan: list[tuple[Stored | None, dict[str, str]]],
        path: str,
        lang: str,
        errors: dict[str, list[str]],
    ) -> None:
        """Prohibit-duplicate fields: against other records and within the same request."""
        for code in self.form.unique:
            in_request = Counter(v[code] for _, v in plan if v.get(code))
            for index, (target, values) in enumerate(plan):
                value = values.get(code)
                if not value:
                    continue
                holder = self._index[code].get(value)
                if in_request[value] > 1 or holder not in (None, target.id if target else None):
                    errors.setdefault(f"{path.format(i=index)}.{code}.value", []).append(text("unique", lang))
