"""Splitting and joining personal names, East Asian family-name-first order included."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from bridge.mapping.model import Context, Transform, as_text, is_blank
from bridge.mapping.schema_types import StrictSchema

ORDERS = ("auto", "family_first", "given_first")
PARTS = ("family", "given")

# Kana, CJK ideographs (with 々 and 〆), half-width katakana and Hangul: names in these scripts are
# written family name first (山田 太郎, 김 민준), so "auto" order switches on them.
_EAST_ASIAN = (
    (0x3005, 0x3006),
    (0x3040, 0x30FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xAC00, 0xD7AF),
    (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F),
)
# Foreign names in katakana separate given and family name with a middle dot, given name first
# (ジョン・スミス = John Smith); full-width and half-width dots and the double hyphen all occur.
_KATAKANA_SEPARATORS = ("・", "･", "゠", "＝")


def is_east_asian(text: str) -> bool:
    return any(lo <= ord(ch) <= hi for ch in text for lo, hi in _EAST_ASIAN)


def _family_first(parts: list[str], text: str) -> bool:
    if is_east_asian(text):
        return True
    # Japanese people writing in Latin letters often capitalise the family name: "YAMADA Taro".
    first, rest = parts[0], parts[1:]
    return len(first) > 1 and first.isupper() and not all(p.isupper() for p in rest)


def split_name(full: str, order: str = "auto") -> tuple[str, str, str | None]:
    """Return (family, given, note). The note says when the split was a guess worth a look."""
    text = full.strip()
    if "," in text:  # "Yamada, Taro": the Western "family, given" convention wins over any order
        family, _, given = text.partition(",")
        return family.strip(), given.strip(), None
    parts = text.split()  # str.split() also splits on the full-width space U+3000
    if not parts:
        return "", "", None
    if len(parts) == 1:
        separator = next((s for s in _KATAKANA_SEPARATORS if s in text), None)
        if separator is None:
            return (
                text,
                "",
                f"no space between family and given name in {text!r}; all of it taken as family name",
            )
        pieces = text.split(separator)
        if order == "family_first":
            return pieces[0], separator.join(pieces[1:]), None
        return pieces[-1], separator.join(pieces[:-1]), None
    family_first = order == "family_first" or (order == "auto" and _family_first(parts, text))
    if family_first:
        return parts[0], " ".join(parts[1:]), None
    return parts[-1], " ".join(parts[:-1]), None


def join_name(family: str, given: str, order: str = "auto", sep: str = " ") -> str:
    """The full name from its parts; "auto" puts the family name first in East Asian scripts."""
    family, given = family.strip(), given.strip()
    if not (family and given):
        return family or given
    family_first = order == "family_first" or (order == "auto" and is_east_asian(family + given))
    return f"{family}{sep}{given}" if family_first else f"{given}{sep}{family}"


class SplitNameArgs(StrictSchema):
    part = fields.String(
        required=True,
        validate=validate.OneOf(PARTS),
        metadata={"description": "family = 姓 (family name), given = 名 (given name)"},
    )
    order = fields.String(
        load_default="auto",
        validate=validate.OneOf(ORDERS),
        metadata={
            "description": "auto: 漢字・かなは姓が先 / East Asian scripts family name first, "
            'Latin given name first ("YAMADA Taro" family first)'
        },
    )


class SplitName(Transform):
    name = "split_name"
    help = "氏名を姓と名に分ける / take the family or given part of a full name"
    Args = SplitNameArgs
    shorthand = "part"
    accepts = frozenset({"any", "text"})

    def __init__(self, part: str, order: str = "auto"):
        super().__init__(part=part, **({"order": order} if order != "auto" else {}))
        self.part, self.order = part, order

    def output_kind(self, input_kind: str) -> str:
        return "text"

    def run(self, value: Any, ctx: Context) -> Any:
        if is_blank(value):
            return None
        family, given, note = split_name(as_text(value), self.order)
        if note:
            ctx.notes.append(note)
        return family if self.part == "family" else given


class JoinNameArgs(StrictSchema):
    family = fields.String(required=True, metadata={"description": "姓のフィールド / field holding the family name"})
    given = fields.String(required=True, metadata={"description": "名のフィールド / field holding the given name"})
    order = fields.String(
        load_default="auto",
        validate=validate.OneOf(ORDERS),
        metadata={"description": "auto: 漢字・かなは「姓 名」/ East Asian family first, else given first"},
    )
    sep = fields.String(load_default=" ", metadata={"description": '区切り文字 / separator, e.g. " " or "　"'})


class JoinName(Transform):
    name = "join_name"
    help = "姓と名をつなげて氏名にする / build a full name from family and given name fields"
    Args = JoinNameArgs
    generator = True

    def __init__(self, family: str, given: str, order: str = "auto", sep: str = " "):
        super().__init__(family=family, given=given, **({"order": order} if order != "auto" else {}))
        self.family, self.given, self.order, self.sep = family, given, order, sep

    def output_kind(self, input_kind: str) -> str:
        return "text"

    def references(self) -> tuple[str, ...]:
        return (self.family, self.given)

    def run(self, value: Any, ctx: Context) -> Any:
        parts = [ctx.record.get(name) for name in (self.family, self.given)]
        family, given = ("" if is_blank(p) else as_text(p) for p in parts)
        return join_name(family, given, self.order, self.sep) or None
