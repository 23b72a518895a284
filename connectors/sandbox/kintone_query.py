"""kintone's record query language: conditions on field codes, `order by`, `limit` and `offset`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

from connectors.sandbox.kintone_schema import AppForm, KintoneError, Stored, minute, parse_datetime

# https://cybozu.dev/ja/kintone/docs/overview/query/
MAX_LIMIT, DEFAULT_LIMIT, MAX_OFFSET = 500, 100, 10_000
NUMERIC = ("NUMBER", "RECORD_NUMBER", "__ID__", "__REVISION__", "CALC")
TIMES = ("DATETIME", "CREATED_TIME", "UPDATED_TIME")
OPERATORS = {
    "SINGLE_LINE_TEXT": {"=", "!=", "in", "not in", "like", "not like"},
    "LINK": {"=", "!=", "in", "not in", "like", "not like"},
    "MULTI_LINE_TEXT": {"like", "not like"},
    "DROP_DOWN": {"in", "not in"},
    "RADIO_BUTTON": {"in", "not in"},
    **{kind: {"=", "!=", ">", "<", ">=", "<=", "in", "not in"} for kind in NUMERIC},
    **{kind: {"=", "!=", ">", "<", ">=", "<="} for kind in TIMES},
}
_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op>!=|>=|<=|=|<|>)|(?P<punct>[(),])'
    r'|(?P<word>[^\s()=!<>,"]+))'
)


@dataclass
class Query:
    where: Callable[[Stored], bool] | None = None
    order: list[tuple[str, bool]] = field(default_factory=lambda: [("$id", True)])  # (code, descending)
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    has_paging: bool = False
    # (n, inclusive) when the condition requires `$id > n` (or >=) at its top level: where a seek starts.
    id_floor: tuple[float, bool] | None = None
    only_id_floor: bool = False  # the condition is that one term and nothing else


def query_error(message: str) -> KintoneError:
    return KintoneError(400, "CB_VA01", "入力内容が正しくありません。", {"query": [message]})


class _Parser:
    def __init__(self, text: str, form: AppForm) -> None:
        self.form = form
        self.tokens: list[tuple[str, str]] = []
        pos, text = 0, text.strip()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise query_error(f"クエリ記法が間違っています: {text[pos : pos + 30]}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.pos = 0
        # What the top level of the condition (outside parentheses) says of $id, when it is a plain "and" of terms.
        self.depth, self.top_terms, self.top_or = 0, 0, False
        self.floors: list[tuple[float, bool]] = []

    def word(self, *words: str) -> bool:
        """Whether the next tokens are these keywords (case-insensitive)."""
        ahead = self.tokens[self.pos : self.pos + len(words)]
        return len(ahead) == len(words) and all(
            k in ("word", "op", "punct") and v.lower() == w for (k, v), w in zip(ahead, words, strict=True)
        )

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise query_error("クエリが途中で終わっています。")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expect(self, value: str) -> None:
        if self.take()[1].lower() != value:
            raise query_error(f"「{value}」が必要です。")

    def parse(self) -> Query:
        query = Query()
        if (
            self.pos < len(self.tokens)
            and not self.word("order", "by")
            and not self.word("limit")
            and not self.word("offset")
        ):
            query.where = self.disjunction()
            if self.floors and not self.top_or:
                query.id_floor = max(self.floors, key=lambda f: (f[0], not f[1]))
                query.only_id_floor = self.top_terms == 1
        if self.word("order", "by"):
            self.pos += 2
            query.order = [self.ordering()]
            while self.word(","):
                self.pos += 1
                query.order.append(self.ordering())
        if self.word("limit"):
            self.pos += 1
            query.limit, query.has_paging = self.integer(), True
            if query.limit > MAX_LIMIT:
                raise query_error(f"limitには{MAX_LIMIT}以下の値を指定してください。")
        if self.word("offset"):
            self.pos += 1
            query.offset, query.has_paging = self.integer(), True
            if query.offset > MAX_OFFSET:
                raise query_error(f"offsetには{MAX_OFFSET}以下の値を指定してください。")
        if self.pos < len(self.tokens):
            raise query_error(f"クエリ記法が間違っています: {self.tokens[self.pos][1]}")
        return query

    def integer(self) -> int:
        kind, value = self.take()
        if kind != "word" or not value.isdigit():
            raise query_error(f"数値が必要です: {value}")
        return int(value)

    def code(self) -> tuple[str, str]:
        kind, code = self.take()
        field_type = self.form.field_type(code) if kind == "word" else None
        if field_type is None:
            # kintone's code for a query naming an unknown field.
            raise KintoneError(400, "GAIA_IQ11", f"指定したフィールド（{code}）が見つかりません。")
        return code, field_type

    def ordering(self) -> tuple[str, bool]:
        code, _ = self.code()
        descending = False
        if self.word("asc") or self.word("desc"):
            descending = self.take()[1].lower() == "desc"
        return code, descending

    def disjunction(self) -> Callable[[Stored], bool]:
        parts = [self.conjunction()]
        while self.word("or"):
            self.pos += 1
            parts.append(self.conjunction())
            self.top_or = self.top_or or self.depth == 0
        return parts[0] if len(parts) == 1 else lambda r: any(p(r) for p in parts)

    def conjunction(self) -> Callable[[Stored], bool]:
        parts = [self.term()]
        while self.word("and"):
            self.pos += 1
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else lambda r: all(p(r) for p in parts)

    def term(self) -> Callable[[Stored], bool]:
        top = self.depth == 0
        self.top_terms += top
        if self.word("("):
            self.pos += 1
            self.depth += 1
            inner = self.disjunction()
            self.expect(")")
            self.depth -= 1
            return inner
        code, kind = self.code()
        if self.word("not", "in") or self.word("not", "like"):
            self.pos += 1
            op = "not " + self.take()[1].lower()
        else:
            op = self.take()[1].lower()
        if op not in OPERATORS.get(kind, {"=", "!="}):
            raise KintoneError(400, "GAIA_IQ03", f"フィールド（{code}）に演算子「{op}」は使用できません。")
        if op in ("in", "not in"):
            self.expect("(")
            options = [self.value(kind)]
            while self.word(","):
                self.pos += 1
                options.append(self.value(kind))
            self.expect(")")
            wanted = set(options)
            return lambda r: (_value(r, code, kind) in wanted) == (op == "in")
        needle = self.value(kind)
        if top and kind == "__ID__" and op in (">", ">=") and isinstance(needle, float):
            self.floors.append((needle, op == ">="))
        if op in ("like", "not like"):
            return lambda r: (str(needle).lower() in str(_value(r, code, kind)).lower()) == (op == "like")
        return lambda r: _compare(_value(r, code, kind), op, needle)

    def value(self, kind: str) -> Any:
        kind_of, raw = self.take()
        if kind_of == "word" and raw.upper() in ("NOW", "TODAY") and self.word("("):
            self.pos += 1
            self.expect(")")
            now = datetime.now(UTC)
            moment = now if raw.upper() == "NOW" else datetime.combine(now.date(), time(), UTC)
            return _typed(minute(moment), kind)
        text = re.sub(r"\\(.)", r"\1", raw[1:-1]) if kind_of == "string" else raw
        typed = _typed(text, kind)
        if typed is None:
            raise query_error(f"値が不正です: {raw}")
        return typed


def _typed(text: str, kind: str) -> Any:
    if kind in NUMERIC:
        try:
            return float(text) if text != "" else ""
        except ValueError:
            return None
    if kind in TIMES:
        return parse_datetime(text) if text != "" else ""
    return text


def _value(record: Stored, code: str, kind: str) -> Any:
    if kind == "__ID__" or kind == "RECORD_NUMBER":
        return float(record.id)
    if kind == "__REVISION__":
        return float(record.revision)
    if kind == "CREATED_TIME":
        return parse_datetime(minute(record.created))
    if kind == "UPDATED_TIME":
        return parse_datetime(minute(record.updated))
    return _typed(record.values.get(code, ""), kind)


def _compare(have: Any, op: str, value: Any) -> bool:
    if op == "=":
        return have == value
    if op == "!=":
        return have != value
    if have in ("", None) or value in ("", None):
        return False
    return {">": have > value, "<": have < value, ">=": have >= value, "<=": have <= value}[op]


def sort_key(record: Stored, code: str, form: AppForm) -> Any:
    kind = form.field_type(code) or ""
    value = _value(record, code, kind)
    return (value in ("", None), value if value not in ("", None) else 0)


def parse(text: str, form: AppForm) -> Query:
    return _Parser(text or "", form).parse()
