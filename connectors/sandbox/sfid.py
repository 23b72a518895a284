"""Salesforce record ids: 3-character key prefix, 12 more characters, 3-character case checksum."""

from __future__ import annotations

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
# https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/field_types.htm#i1435616
LEAD, USER, ORG, QUERY_LOCATOR, OUTBOUND_ACTION, NOTIFICATION = (
    "00Q",
    "005",
    "00D",
    "01g",
    "04k",
    "04l",
)
CONTACT, TASK, OPPORTUNITY = "003", "00T", "006"


def checksum(id15: str) -> str:
    """The suffix that makes an 18-character id case-insensitive: one letter per 5 characters."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(id15[start : start + 5]) if "A" <= ch <= "Z")
        suffix += _CHECKSUM[bits]
    return suffix


def make_id(prefix: str, number: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    id15 = f"{prefix}5g000{digits.rjust(7, '0')}"
    return id15 + checksum(id15)
