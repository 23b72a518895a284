"""The transforms a field entry chains, by name: text clean-up, value maps, numbers, constants."""

from __future__ import annotations

import math
import re
import unicodedata
from abc import abstractmethod
from typing import Any

from marshmallow import ValidationError, fields, validate

from bridge.mapping.dates import DateTimeTransform, DateTransform
from bridge.mapping.model import Context, Kind, Transform, TransformFailed, as_text, is_blank
from bridge.mapping.names import JoinName, SplitName
from bridge.mapping.schema_types import Scalar, StrictSchema, ValueMap

_TEXT_INPUT = frozenset({"any", "text", "date", "datetime"})


class _TextTransform(Transform):
    accepts = _TEXT_INPUT
    text_only = True

    def output_kind(self, input_kind: Kind) -> Kind:
        return "text"

    def run(self, value: Any, ctx: Context) -> Any:
        return None if value is None else self.apply(as_text(value))

    @abstractmethod
    def apply(self, text: str) -> str:
        """The transformed text."""


class Trim(_TextTransform):
    name = "trim"
    help = "前後の空白を削除 (全角スペースも) / remove spaces at both ends, full-width ones too"

    def apply(self, text: str) -> str:
        return text.strip()


class Upper(_TextTransform):
    name = "upper"
    help = "大文字にする / upper case"

    def apply(self, text: str) -> str:
        return text.upper()


class Lower(_TextTransform):
    name = "lower"
    help = "小文字にする / lower case"

    def apply(self, text: str) -> str:
        return text.lower()


class Nfkc(_TextTransform):
    name = "nfkc"
    help = (
        "Unicode NFKC 正規化: 全角英数→半角, 半角カナ→全角, ㈱→(株) / full-width letters, digits "
        "half-width, half-width katakana to full-width"
    )

    def apply(self, text: str) -> str:
        return unicodedata.normalize("NFKC", text)


_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?")


def to_number(value: Any) -> int | float:
    """A number from a number or from text such as "1,234", "１２３" or "-0.5"."""
    if isinstance(value, bool):
        raise TransformFailed(f"{value!r} is not a number")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise TransformFailed(f"{value!r} is not a finite number")
        return value
    text = unicodedata.normalize("NFKC", str(value)).strip().replace(",", "")
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    raise TransformFailed(f"{value!r} is not a number")


class Number(Transform):
    name = "number"
    help = '数値にする ("1,234" や全角数字も) / a number, also from "1,234" or full-width digits'
    accepts = frozenset({"any", "text", "number"})

    def output_kind(self, input_kind: Kind) -> Kind:
        return "number"

    def run(self, value: Any, ctx: Context) -> Any:
        return None if is_blank(value) else to_number(value)


_TRUE = frozenset({"true", "yes", "y", "on", "1", "はい", "有", "あり", "○"})
_FALSE = frozenset({"false", "no", "n", "off", "0", "いいえ", "無", "なし", "×"})


class Boolean(Transform):
    name = "boolean"
    help = "真偽値にする (true/false, yes/no, はい/いいえ, 1/0) / true or false from common words"
    accepts = frozenset({"any", "text", "number", "boolean"})

    def output_kind(self, input_kind: Kind) -> Kind:
        return "boolean"

    def run(self, value: Any, ctx: Context) -> Any:
        if is_blank(value):
            return None
        if isinstance(value, bool):
            return value
        word = unicodedata.normalize("NFKC", as_text(value)).strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise TransformFailed(f"{value!r} is not true or false (use true/false, yes/no, はい/いいえ, 1/0)")


def kind_of(values: list[Any]) -> Kind:
    """The kind shared by literal values from a file; "any" when they differ."""
    kinds = {
        "boolean" if isinstance(v, bool) else "number" if isinstance(v, int | float) else "text"
        for v in values
        if v is not None
    }
    return kinds.pop() if len(kinds) == 1 else "any"


def fold(value: Any) -> str:
    """How map keys compare: NFKC, trimmed, ignoring case ("Ｈｏｔ", "hot " and "HOT" match)."""
    return unicodedata.normalize("NFKC", as_text(value)).strip().casefold()


class MapArgs(StrictSchema):
    values = ValueMap(required=True, metadata={"description": "元の値: 変換後の値 / `source value: target value`"})
    default = Scalar(
        metadata={
            "description": "一覧にない値の代わり (null で送らない)。なしなら元の値のまま / "
            "used for values not listed (null: send nothing); absent: value kept"
        }
    )
    match = fields.String(
        load_default="exact",
        validate=validate.OneOf(("exact", "contains")),
        metadata={
            "description": "exact: 値全体が一致 / whole value; contains: キーワードを含む / "
            "first key found inside the value, top to bottom"
        },
    )


class ValueMapTransform(Transform):
    name = "map"
    help = "値の対応表 (ピックリスト等) / replace values by a table, e.g. for picklists"
    Args = MapArgs

    def __init__(self, values: dict[str, Any], match: str = "exact", **default: Any):
        super().__init__(**({"match": match} if match != "exact" else {}))
        self.values, self.match = values, match
        self.has_default = "default" in default
        self.default = default.get("default")
        self._folded = {fold(k): v for k, v in values.items()}

    def output_kind(self, input_kind: Kind) -> Kind:
        produced = list(self.values.values()) + [self.default]
        kind = kind_of(produced)
        if not self.has_default and kind != input_kind:
            return "any"  # unlisted values pass through unchanged, so either kind may come out
        return kind

    def literals(self) -> tuple[Any, ...]:
        return tuple(v for v in [*self.values.values(), self.default] if v is not None)

    def run(self, value: Any, ctx: Context) -> Any:
        if is_blank(value):
            return value
        key = fold(value)
        if self.match == "exact" and key in self._folded:
            return self._folded[key]
        if self.match == "contains":
            found = next((k for k in self._folded if k in key), None)
            if found is not None:
                return self._folded[found]
        if self.has_default:
            ctx.notes.append(f"{value!r} is not in the map; default {self.default!r} used")
            return self.default
        ctx.notes.append(f"{value!r} is not in the map; sent unchanged")
        return value


class ConstantArgs(StrictSchema):
    value = Scalar(required=True, metadata={"description": "常に入れる値 / the value to write"})


class Constant(Transform):
    name = "constant"
    help = "固定値 / always the same value"
    Args = ConstantArgs
    shorthand = "value"
    generator = True

    def __init__(self, value: Any):
        super().__init__(value=value)
        self.value = value

    def output_kind(self, input_kind: Kind) -> Kind:
        return kind_of([self.value])

    def literals(self) -> tuple[Any, ...]:
        return () if self.value is None else (self.value,)

    def run(self, value: Any, ctx: Context) -> Any:
        return self.value


_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def parse_template(text: str) -> list[str | tuple[str]]:
    """Literal text and ("field",) references; {{ and }} stand for literal braces."""
    parts: list[str | tuple[str]] = []
    position = 0
    for match in _TOKEN.finditer(text):
        parts.append(text[position : match.start()])
        token, name = match.group(0), match.group(1)
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif name is not None and name.strip():
            parts.append((name.strip(),))
        elif name is not None:
            raise ValidationError("has an empty {} ; put a field name inside, e.g. {lastname}")
        else:
            raise ValidationError(
                f"has an unmatched {token!r} at character {match.start() + 1}; write {token * 2} for a literal brace"
            )
        position = match.end()
    parts.append(text[position:])
    return [p for p in parts if p != ""]


class TemplateArgs(StrictSchema):
    text = fields.String(
        required=True,
        validate=parse_template,
        metadata={
            "description": "{フィールド名} を値に置き換える / {field} becomes that field's value; "
            "{value} is the value so far"
        },
    )


class Template(Transform):
    name = "template"
    help = '文字列を組み立てる / build text from fields, e.g. "{lastname} {firstname}"'
    Args = TemplateArgs
    shorthand = "text"

    def __init__(self, text: str):
        super().__init__(text=text)
        self.parts = parse_template(text)

    def output_kind(self, input_kind: Kind) -> Kind:
        return "text"

    def references(self) -> tuple[str, ...]:
        return tuple(p[0] for p in self.parts if isinstance(p, tuple) and p[0] != "value")

    def run(self, value: Any, ctx: Context) -> Any:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            found = value if part[0] == "value" else ctx.record.get(part[0])
            out.append("" if is_blank(found) else as_text(found).strip())
        text = "".join(out).strip()  # a blank part leaves no stray space: "{lastname} {firstname}"
        return text or None


REGISTRY: dict[str, type[Transform]] = {
    cls.name: cls
    for cls in (
        Trim,
        Upper,
        Lower,
        Nfkc,
        ValueMapTransform,
        Number,
        Boolean,
        DateTransform,
        DateTimeTransform,
        SplitName,
        JoinName,
        Constant,
        Template,
    )
}
