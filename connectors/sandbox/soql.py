"""The SOQL subset the sandbox answers: SELECT … FROM <object> [WHERE] [ORDER BY] [LIMIT] [OFFSET]."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connectors.sandbox.salesforce_schema import RequestError, SObjectSchema, parse_datetime

# https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select.htm
_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>'(?:[^'\\]|\\.)*')
   |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
   |(?P<date>\d{4}-\d{2}-\d{2})
   |(?P<number>-?\d+(?:\.\d+)?)
   |(?P<op><=|>=|!=|<>|=|<|>)
   |(?P<punct>[(),])
   |(?P<word>[A-Za-z_][A-Za-z0-9_.]*)
)""",
    re.VERBOSE,
)

Record = dict[str, Any]
_RESERVED = {"SELECT", "FROM", "WHERE", "ORDER", "BY", "LIMIT", "OFFSET", "AND", "OR", "NOT", "IN", "LIKE"}


@dataclass
class Query:
    sobject: str
    fields: list[str]
    where: Callable[[Record], bool] | None = None
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    limit: int | None = None
    offset: int = 0


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise RequestError("MALFORMED_QUERY", f"unexpected token at: {text[pos : pos + 30]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str, schemas: Mapping[str, SObjectSchema]) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.schema = self._schema_of_from(schemas)

    def _schema_of_from(self, schemas: Mapping[str, SObjectSchema]) -> SObjectSchema:
        """The object after FROM decides which fields the SELECT list may name, so it is found first."""
        at = next((i for i, (kind, value) in enumerate(self.tokens) if kind == "word" and value.upper() == "FROM"),
                  None)
        if at is None or at + 1 >= len(self.tokens):
            return next(iter(schemas.values()))  # no object named: parsing fails where the query does
        sobject = self.tokens[at + 1][1]
        found = next((s for name, s in schemas.items() if name.lower() == sobject.lower()), None)
        if found is None:
            raise RequestError("INVALID_TYPE", f"sObject type '{sobject}' is not supported by the sandbox.")
        return found

    def peek(self, *words: str) -> bool:
        if self.pos >= len(self.tokens):
            return False
        kind, value = self.tokens[self.pos]
        return not words or value.upper() in words if kind in ("word", "punct", "op") else not words

    def take(self, *words: str) -> str:
        if self.pos >= len(self.tokens) or words and not self.peek(*words):
            found = self.tokens[self.pos][1] if self.pos < len(self.tokens) else "end of query"
            expected = " or ".join(words) if words else "more"
            raise RequestError("MALFORMED_QUERY", f"expecting {expected}, unexpected token: '{found}'")
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def field_name(self) -> str:
        kind, value = self.tokens[self.pos] if self.pos < len(self.tokens) else ("", "end of query")
        if kind != "word" or value.upper() in _RESERVED:
            raise RequestError("MALFORMED_QUERY", f"expecting a field name, unexpected token: '{value}'")
        name = self.schema.name(value)
        if name is None:
            raise RequestError(
                "INVALID_FIELD",
                f"No such column '{value}' on entity '{self.schema.object}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name.",
            )
        self.pos += 1
        return name

    def parse(self) -> Query:
        self.take("SELECT")
        fields = [self.field_name()]
        while self.peek(","):
            self.take(",")
            fields.append(self.field_name())
        self.take("FROM")
        self.take()  # the object, found first
        query = Query(self.schema.object, fields)
        if self.peek("WHERE"):
            self.take()
            query.where = self.disjunction()
        if self.peek("ORDER"):
            self.take()
            self.take("BY")
            query.order.append(self.ordering())
            while self.peek(","):
                self.take(",")
                query.order.append(self.ordering())
        if self.peek("LIMIT"):
            self.take()
            query.limit = self.integer()
        if self.peek("OFFSET"):
            self.take()
            query.offset = self.integer()
        if self.pos < len(self.tokens):
            raise RequestError("MALFORMED_QUERY", f"unexpected token: '{self.tokens[self.pos][1]}'")
        return query

    def integer(self) -> int:
        kind, value = self.tokens[self.pos] if self.pos < len(self.tokens) else ("", "end of query")
        if kind != "number" or not value.isdigit():
            raise RequestError("MALFORMED_QUERY", f"expecting a non-negative integer, unexpected token: '{value}'")
        self.pos += 1
        return int(value)

    def ordering(self) -> tuple[str, bool]:
        name = self.field_name()
        descending = False
        if self.peek("ASC", "DESC"):
            descending = self.take().upper() == "DESC"
        return name, descending

    def disjunction(self) -> Callable[[Record], bool]:
        parts = [self.conjunction()]
        while self.peek("OR"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else lambda r: any(p(r) for p in parts)

    def conjunction(self) -> Callable[[Record], bool]:
        parts = [self.unary()]
        while self.peek("AND"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else lambda r: all(p(r) for p in parts)

    def unary(self) -> Callable[[Record], bool]:
        if self.peek("NOT"):
            self.take()
            inner = self.unary()
            return lambda r: not inner(r)
        if self.peek("("):
            self.take()
            inner = self.disjunction()
            self.take(")")
            return inner
        return self.comparison()

    def comparison(self) -> Callable[[Record], bool]:
        name = self.field_name()
        type_ = self.schema.fields[name]["type"]
        negate = False
        if self.peek("NOT"):
            self.take()
            negate = True
            if not self.peek("IN"):
                raise RequestError("MALFORMED_QUERY", "expecting IN after NOT")
        if self.peek("IN"):
            self.take()
            self.take("(")
            options = [self.literal(type_)]
            while self.peek(","):
                self.take(",")
                options.append(self.literal(type_))
            self.take(")")
            keys = {_key(o) for o in options}
            return lambda r: (_key(r.get(name)) in keys) != negate
        if self.peek("LIKE"):
            self.take()
            pattern = self.literal(type_)
            regex = re.compile(
                "^" + re.escape(str(pattern)).replace("%", ".*").replace("_", ".") + "$",
                re.IGNORECASE | re.DOTALL,
            )
            return lambda r: r.get(name) is not None and bool(regex.match(str(r[name])))
        op = self.take("=", "!=", "<>", "<", "<=", ">", ">=")
        value = self.literal(type_)
        # Ids order as written (case-sensitive: 15-character ids differ by case alone): "WHERE Id > :last ORDER BY
        # Id" pages through an object.
        exact = type_ in ("id", "reference")
        return lambda r: _compare(r.get(name), op, value, exact)

    def literal(self, type_: str) -> Any:
        kind, text = self.tokens[self.pos] if self.pos < len(self.tokens) else ("", "end of query")
        self.pos += 1
        if kind == "word" and text.lower() in ("null", "true", "false"):
            return {"null": None, "true": True, "false": False}[text.lower()]
        if kind == "string" and type_ not in ("datetime", "date", "int", "double", "boolean"):
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "datetime" and type_ == "datetime":
            return parse_datetime(text)
        if kind == "date" and type_ == "date":
            return date.fromisoformat(text)
        if kind == "number" and type_ in ("int", "double", "currency", "percent"):
            return float(text)
        raise RequestError(
            "INVALID_QUERY_FILTER_OPERATOR",
            f"value of filter criterion for a field of type {type_} must be of type {type_} "
            f"and should not be enclosed in quotes: {text}",
        )


def _key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _compare(have: Any, op: str, value: Any, exact: bool = False) -> bool:
    if op in ("!=", "<>"):
        return _key(have) != _key(value)
    if op == "=":
        return _key(have) == _key(value)
    if have is None or value is None:
        return False
    if not exact:
        have, value = _key(have), _key(value)
    return {"<": have < value, "<=": have <= value, ">": have > value, ">=": have >= value}[op]


def parse(text: str, schemas: Mapping[str, SObjectSchema] | SObjectSchema) -> Query:
    """A query against the objects in `schemas` (by API name), or against one object's schema."""
    if not text.strip():
        raise RequestError("MALFORMED_QUERY", "the q parameter is empty")
    if isinstance(schemas, SObjectSchema):
        schemas = {schemas.object: schemas}
    return _Parser(text, schemas).parse()
