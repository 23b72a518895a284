"""A kintone app's form: the lead-app fields, write-value checks, and records in the read shape."""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# kintone answers in the user's language; API-token requests follow Accept-Language.
MESSAGES = {
    "invalid": ("入力内容が正しくありません。", "Missing or invalid input."),
    "required": ("必須です。", "Required field."),
    "unique": (
        "値がほかのレコードと重複しています。",
        "This value already exists in another record.",
    ),
    "option": ('"{value}"は選択肢にありません。', 'The value, "{value}", is not in options.'),
    "number": ("数字でなければなりません。", "Only numbers are allowed."),
    "datetime": ("日時の形式が不正です。", "The date and time format is invalid."),
}
SYSTEM_TYPES = ("RECORD_NUMBER", "CREATOR", "CREATED_TIME", "MODIFIER", "UPDATED_TIME")
# Process management's fields: a record's status and its assignees change by status actions, never by a write.
# https://cybozu.dev/ja/kintone/docs/overview/field-types/
PROCESS_TYPES = ("STATUS", "STATUS_ASSIGNEE")
KEY_TYPES = ("SINGLE_LINE_TEXT", "NUMBER")  # field types updateKey may name (with unique on)
API_USER = {"code": "Administrator", "name": "Administrator"}
UI_USER = {"code": "tanaka", "name": "田中 一郎"}  # the sales rep the control API acts as (作成者, 更新者)


def text(key: str, lang: str, **params: str) -> str:
    ja, en = MESSAGES[key]
    return (en if lang == "en" else ja).format(**params)


def new_error_id() -> str:
    return secrets.token_urlsafe(15)


class KintoneError(Exception):
    """kintone's error body {code, id, message[, errors]} with its HTTP status."""

    def __init__(self, status: int, code: str, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "id": new_error_id(), "message": self.message}
        if self.errors:
            out["errors"] = {path: {"messages": messages} for path, messages in self.errors.items()}
        return out


def _f(code: str, label: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "code": code, "label": label, "noLabel": False, **extra}


def _text(code: str, label: str, *, required: bool = False, unique: bool = False) -> dict[str, Any]:
    return _f(
        code,
        label,
        "SINGLE_LINE_TEXT",
        required=required,
        unique=unique,
        defaultValue="",
        minLength="",
        maxLength="",
    )


def _drop_down(code: str, label: str, options: tuple[str, ...], default: str = "") -> dict[str, Any]:
    return _f(
        code,
        label,
        "DROP_DOWN",
        required=False,
        defaultValue=default,
        options={o: {"label": o, "index": str(i)} for i, o in enumerate(options)},
    )


def _number(code: str, label: str) -> dict[str, Any]:
    return _f(
        code,
        label,
        "NUMBER",
        required=False,
        unique=False,
        defaultValue="",
        minValue="",
        maxValue="",
        digit=False,
        displayScale="",
        unit="",
        unitPosition="BEFORE",
    )


# The lead app's process (プロセス管理): a record starts in the first status; a rep's actions move it (the statuses
# mappings/feedback.yaml reads as sales events).
LEAD_APP_STATES = ("未対応", "対応中", "不通", "接続", "商談化", "受注", "失注", "対象外", "マーケに戻す")
# The process's actions (アクション): from each working status to every other status, named after where they lead
# (「不通にする」); a closed lead (受注, 失注, 対象外, マーケに戻す) can only be reopened (「再開する」 → 未対応), as a
# real app's process keeps finished records from moving on. Bridge moves a status only by such an action.
# https://cybozu.dev/ja/kintone/docs/rest-api/apps/settings/get-process-management/
_WORKING_STATES = LEAD_APP_STATES[:5]
LEAD_APP_ACTIONS = (
    *({"name": f"{to}にする", "from": source, "to": to, "filterCond": ""}
      for source in _WORKING_STATES for to in LEAD_APP_STATES if to != source and to != LEAD_APP_STATES[0]),
    *({"name": "再開する", "from": source, "to": LEAD_APP_STATES[0], "filterCond": ""}
      for source in LEAD_APP_STATES[5:]),
)
# Why a lead was lost or disqualified: the Japanese labels of mappings/feedback.yaml's reasons.
LOSS_REASONS = ("予算なし", "決裁権なし", "ニーズなし", "時期尚早", "競合選定", "連絡不通", "重複", "その他")


# The follow-up log (対応履歴) a typical lead app keeps: a table (SUBTABLE), one row per call, email or visit, with
# its time, how, the result and a memo (mappings/feedback.yaml `log:` reads its new rows as touches).
# https://cybozu.dev/ja/kintone/docs/overview/field-types/#subtable
FOLLOW_UP_LOG = "対応履歴"
FOLLOW_UP_TIME, FOLLOW_UP_METHOD, FOLLOW_UP_RESULT, FOLLOW_UP_MEMO = "対応日時", "対応方法", "結果", "メモ"
FOLLOW_UP_METHODS = ("電話", "メール", "訪問", "その他")
FOLLOW_UP_RESULTS = ("つながった", "不在", "留守電", "番号不通", "返信あり", "送信済み")


def _datetime(code: str, label: str) -> dict[str, Any]:
    return _f(code, label, "DATETIME", required=False, unique=False, defaultValue="", defaultNowValue=False)


def _table(code: str, label: str, columns: list[dict[str, Any]]) -> dict[str, Any]:
    """A table: its columns are form fields of their own, under `fields` (GET app/form/fields.json)."""
    return _f(code, label, "SUBTABLE", fields={column["code"]: column for column in columns})


def _process(name: str, type_: str) -> dict[str, Any]:
    # Process management's fields are named, not coded: the code is the name (ステータス, 作業者).
    return {"type": type_, "code": name, "label": name, "enabled": True}


LEAD_APP_FIELDS = [
    _f("record_number", "レコード番号", "RECORD_NUMBER"),
    _f("creator", "作成者", "CREATOR"),
    _f("created_time", "作成日時", "CREATED_TIME"),
    _f("modifier", "更新者", "MODIFIER"),
    _f("updated_time", "更新日時", "UPDATED_TIME"),
    _text("hubspot_contact_id", "HubSpot コンタクトID", unique=True),
    _text("company", "会社名", required=True),
    _text("full_name", "氏名"),
    _text("last_name", "姓"),
    _text("first_name", "名"),
    _f(
        "email",
        "メールアドレス",
        "LINK",
        protocol="MAIL",
        required=False,
        unique=False,
        defaultValue="",
    ),
    _f("phone", "電話番号", "LINK", protocol="CALL", required=False, unique=False, defaultValue=""),
    _text("title", "役職"),
    _drop_down(
        "industry",
        "業種",
        (
            "製造業",
            "情報通信業",
            "卸売業・小売業",
            "金融業・保険業",
            "不動産業",
            "建設業",
            "運輸業",
            "医療・福祉",
            "教育・学習支援業",
            "サービス業",
            "官公庁・団体",
            "その他",
        ),
    ),
    _number("employees", "従業員数"),
    _number("score", "スコア"),
    _drop_down("stage", "ステージ", ("認知", "興味", "検討")),
    _drop_down("temperature", "温度感", ("cold", "warm", "hot")),
    _drop_down(
        "status",
        "ステータス",
        ("未対応", "対応中", "商談化", "対象外", "リサイクル"),
        default="未対応",
    ),
    _text("lead_source", "リードソース"),
    _f("handoff_reason", "引き渡し理由", "MULTI_LINE_TEXT", required=False, defaultValue=""),
    _datetime("handoff_at", "引き渡し日時"),
    _drop_down("失注理由", "失注理由", LOSS_REASONS),
    _table(FOLLOW_UP_LOG, FOLLOW_UP_LOG, [
        _datetime(FOLLOW_UP_TIME, FOLLOW_UP_TIME),
        _drop_down(FOLLOW_UP_METHOD, FOLLOW_UP_METHOD, FOLLOW_UP_METHODS),
        _drop_down(FOLLOW_UP_RESULT, FOLLOW_UP_RESULT, FOLLOW_UP_RESULTS),
        _f(FOLLOW_UP_MEMO, FOLLOW_UP_MEMO, "MULTI_LINE_TEXT", required=False, defaultValue=""),
    ]),
    _process("ステータス", "STATUS"),
    _process("作業者", "STATUS_ASSIGNEE"),
]


def minute(moment: datetime) -> str:
    """kintone keeps date-times to the minute, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:00Z")


def parse_datetime(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Stored:
    """A record as kept: field values as strings (a table's as rows: [{"id": "…", "value": {column: string}}]),
    plus the system fields kintone maintains."""

    id: int
    revision: int
    values: dict[str, Any]
    created: datetime
    updated: datetime
    creator: dict[str, str] = dataclasses.field(default_factory=lambda: API_USER)  # who added it: {code, name}
    modifier: dict[str, str] = dataclasses.field(default_factory=lambda: API_USER)  # who saved it last


class AppForm:
    def __init__(self, fields: list[dict[str, Any]] | None) -> None:
        self.fields = {f["code"]: f for f in (LEAD_APP_FIELDS if fields is None else fields)}
        self.editable = {c: f for c, f in self.fields.items() if f["type"] not in (*SYSTEM_TYPES, *PROCESS_TYPES)}
        self.unique = [c for c, f in self.editable.items() if f.get("unique")]
        #: The STATUS field's code when process management is on (then records move through LEAD_APP_STATES).
        self.status_field = next((c for c, f in self.fields.items() if f["type"] == "STATUS"), None)
        self.states = LEAD_APP_STATES if self.status_field else ()

    def check_status(self, status: str) -> None:
        """Raise a KintoneError unless a record of this app can be moved to `status`."""
        # kintone's codes for these two are not documented; they are the sandbox's own.
        if not self.status_field:
            raise KintoneError(
                400, "SANDBOX_NO_PROCESS", "プロセス管理が有効ではありません。/ process management is off"
            )
        if status not in self.states:
            raise KintoneError(
                400,
                "SANDBOX_NO_SUCH_STATUS",
                f"ステータス「{status}」はありません。/ no status {status!r}; one of {', '.join(self.states)}",
            )

    def process(self) -> dict[str, Any]:
        """GET app/status.json: whether process management is on, its statuses and its actions."""
        states = {name: {"name": name, "index": str(i), "assignee": {"type": "ONE", "entities": []}}
                  for i, name in enumerate(self.states)}
        return {"enable": bool(self.status_field), "states": states or None,
                "actions": list(LEAD_APP_ACTIONS) if self.status_field else None, "revision": "1"}

    def action(self, status: str, name: str) -> dict[str, str]:
        """The action called `name` that a record in `status` can take, or a KintoneError."""
        found = next((a for a in LEAD_APP_ACTIONS if a["from"] == status and a["name"] == name), None)
        if found is None:  # kintone's code for this is not documented; this one is the sandbox's own
            raise KintoneError(
                400, "SANDBOX_NO_SUCH_ACTION",
                f"ステータス「{status}」からアクション「{name}」は実行できません。/ no action {name!r} from {status!r}",
            )
        return found

    def follow_up_log(self) -> str:
        """The code of the app's follow-up log (対応履歴), or a KintoneError when the app keeps none."""
        if self.fields.get(FOLLOW_UP_LOG, {}).get("type") != "SUBTABLE":  # the sandbox's own code, as above
            raise KintoneError(400, "SANDBOX_NO_FOLLOW_UP_LOG",
                               f"テーブル「{FOLLOW_UP_LOG}」がありません。/ the app has no {FOLLOW_UP_LOG} table")
        return FOLLOW_UP_LOG

    def initial(self) -> dict[str, str]:
        """What a new record holds besides its own values: the first status, when the app has a process."""
        return {self.status_field: self.states[0]} if self.status_field else {}

    def properties(self) -> dict[str, Any]:
        return {"properties": self.fields, "revision": "1"}

    def field_type(self, code: str) -> str | None:
        if code == "$id":
            return "__ID__"
        if code == "$revision":
            return "__REVISION__"
        field = self.fields.get(code)
        return field["type"] if field else None

    def coerce(self, record: Any, path: str, lang: str, errors: dict[str, list[str]], creating: bool) -> dict[str, Any]:
        """Write values ({code: {value}}) -> stored strings; problems into `errors` by JSON path. A table's rows
        come back as given ({"id" or None, "value": the columns given}): the store settles them (`settle_tables`)."""
        values: dict[str, Any] = {}
        given = record if isinstance(record, dict) else {}
        for code, field in self.editable.items():
            if field["type"] == "SUBTABLE":
                if code in given or creating:
                    raw = given[code].get("value") if isinstance(given.get(code), dict) else []
                    values[code] = self._rows(field, raw, f"{path}.{code}", lang, errors)
                continue
            if code in given:
                raw = given[code].get("value") if isinstance(given[code], dict) else None
                value = "" if raw is None else str(raw)
            elif creating:
                value = str(field.get("defaultValue") or "")
            else:
                continue
            checked = self._checked(field, value, f"{path}.{code}.value", lang, errors)
            if checked is not None:
                values[code] = checked
        # Unknown field codes in a write are ignored, as kintone does.
        return values

    def _checked(self, field: dict[str, Any], value: str, path: str, lang: str,
                 errors: dict[str, list[str]]) -> str | None:
        problem = self._problem(field, value, lang)
        if problem:
            errors.setdefault(path, []).append(problem)
            return None
        return minute(parse_datetime(value)) if field["type"] == "DATETIME" and value else value

    def _rows(self, field: dict[str, Any], raw: Any, path: str, lang: str,
              errors: dict[str, list[str]]) -> list[dict[str, Any]]:
        """A table's rows as written: [{"id"?: "…", "value": {column: {"value": v}}}]; each column checked as a
        field of its own (errors at record.<table>.value[i].value.<column>.value, as kintone names them)."""
        if not isinstance(raw, list):
            errors.setdefault(f"{path}.value", []).append(text("invalid", lang))
            return []
        rows = []
        for index, row in enumerate(raw):
            row = row if isinstance(row, dict) else {}
            cells = row.get("value") if isinstance(row.get("value"), dict) else {}
            values = {}
            for code, column in field["fields"].items():
                if code in cells:
                    cell = cells[code].get("value") if isinstance(cells[code], dict) else None
                    checked = self._checked(column, "" if cell is None else str(cell),
                                            f"{path}.value[{index}].value.{code}.value", lang, errors)
                    if checked is not None:
                        values[code] = checked
            row_id = str(row.get("id", "") or "")
            rows.append({"id": row_id or None, "value": values})
        return rows

    def settle_tables(self, values: dict[str, Any], current: dict[str, Any] | None,
                      new_row_id: Callable[[], str]) -> None:
        """A written table replaces the record's table (rows not sent are deleted): a row sent with the id of one
        of its rows updates that row (columns not sent keep their values); any other row is new and gets a new id
        and the columns' defaults. https://cybozu.dev/ja/kintone/docs/rest-api/records/update-record/"""
        for code, field in self.fields.items():
            if field["type"] != "SUBTABLE" or code not in values:
                continue
            existing = {row["id"]: row["value"] for row in (current or {}).get(code) or []}
            settled = []
            for row in values[code]:
                if row["id"] in existing:
                    settled.append({"id": row["id"], "value": {**existing[row["id"]], **row["value"]}})
                else:
                    defaults = {c: str(column.get("defaultValue") or "") for c, column in field["fields"].items()}
                    settled.append({"id": new_row_id(), "value": {**defaults, **row["value"]}})
            values[code] = settled

    @staticmethod
    def _problem(field: dict[str, Any], value: str, lang: str) -> str | None:
        if value == "":
            return text("required", lang) if field.get("required") else None
        kind = field["type"]
        if kind in ("DROP_DOWN", "RADIO_BUTTON") and value not in field.get("options", {}):
            return text("option", lang, value=value)
        if kind == "NUMBER" and not re.fullmatch(r"-?\d+(\.\d+)?", value):
            return text("number", lang)
        if kind == "DATETIME" and parse_datetime(value) is None:
            return text("datetime", lang)
        return None

    def render(self, record: Stored, only: list[str] | None = None) -> dict[str, Any]:
        """The read shape: every field (or those in `only`) as {"type", "value"}, numbers as strings."""
        wanted = None if only is None else set(only)
        out: dict[str, Any] = {}
        for code, field in self.fields.items():
            if wanted is not None and code not in wanted:
                continue
            kind = field["type"]
            if kind in SYSTEM_TYPES:
                value = _system_value(record, kind)
            elif kind == "STATUS_ASSIGNEE":
                value = []  # the sandbox's statuses have no assignees
            elif kind == "SUBTABLE":
                value = [{"id": row["id"], "value": {c: {"type": column["type"], "value": row["value"].get(c, "")}
                                                     for c, column in field["fields"].items()}}
                         for row in record.values.get(code) or []]
            else:
                value = record.values.get(code, "")
            out[code] = {"type": kind, "value": value}
        if wanted is None or "$id" in wanted:
            out["$id"] = {"type": "__ID__", "value": str(record.id)}
        if wanted is None or "$revision" in wanted:
            out["$revision"] = {"type": "__REVISION__", "value": str(record.revision)}
        return out


def _system_value(record: Stored, kind: str) -> Any:
    """The value kintone keeps itself in a field of a system type."""
    if kind == "RECORD_NUMBER":
        return str(record.id)
    if kind == "CREATOR":
        return record.creator
    if kind == "MODIFIER":
        return record.modifier
    return minute(record.created if kind == "CREATED_TIME" else record.updated)
