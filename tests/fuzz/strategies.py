"""Hypothesis strategies that turn an authentic delivery into a hostile one: extreme numbers and dates, unicode that
cannot be stored (lone surrogates), control and direction characters, deep nesting, wrong types, truncation."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st


@dataclass(frozen=True)
class Raw:
    """JSON text spliced in as it is: what json.dumps cannot or will not write (NaN, 5,000 digits, 3,000 levels)."""

    text: str


def to_json(tree: Any) -> bytes:
    """Serialise a tree that may hold Raw values (lone surrogates are written as \\u escapes, as a browser does)."""
    raws: list[str] = []

    def mark(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"@@raw{len(raws) - 1}@@"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = json.dumps(mark(tree))
    for index, raw in enumerate(raws):
        text = text.replace(f'"@@raw{index}@@"', raw)
    return text.encode()


TEXT_SAMPLES = [
    "\ud83d", "a\udc00b", "\ud83d\ude00", "\x00", "nul\x00inside", "\u202eevil", "\u200f", "\ufeff", "\n\r\t\x1b[31m",
    "😀", "ﾔﾏﾀﾞｿﾌﾄ㈱", "山田\u3000太郎", "Robert'); DROP TABLE inbox;--", "<!channel>", "%s%n%x", "\\", '"', "", " ",
    "x" * 5000,
]
DATE_SAMPLES = [
    "0001-01-01T00:00:00+09:00", "9999-12-31T23:59:59-09:00", "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z", "10000-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-21T10:00:00", "2026-11-21",
    "2026-11-21T10:00:00+24:00", "2026-11-21T10:00:00.123456789Z", "2026-11-21T25:00:00Z", "T", "Z",
]
NUMBER_SAMPLES = [
    0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**18, 10**30, 253402300799999,
    253402300800000, 1.5, -0.0, 1e308, -1e308, 5e-324,
]
RAW_SAMPLES = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "9" * 4301, "1" * 4000, "-0", "1E+2", "0.1e-999"]
ZONES = [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)), timezone(timedelta(hours=9))]

texts = st.one_of(
    st.sampled_from(TEXT_SAMPLES),
    st.text(st.characters(exclude_categories=()), max_size=20),
)
dates = st.one_of(
    st.sampled_from(DATE_SAMPLES),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.sampled_from(ZONES))
    .map(lambda moment: moment.isoformat()),
)
numbers = st.one_of(
    st.sampled_from(NUMBER_SAMPLES),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(RAW_SAMPLES).map(Raw),
)
nestings = st.one_of(
    st.integers(min_value=1, max_value=3000).map(lambda depth: Raw("[" * depth + "]" * depth)),
    st.integers(min_value=55, max_value=75).map(lambda depth: Raw('{"a":' * depth + "1" + "}" * depth)),
)
wrong_types = st.one_of(
    st.none(), st.booleans(), st.builds(list), st.builds(dict),  # fresh each time: a tree is changed in place
    st.lists(st.integers(), max_size=3), st.dictionaries(texts, st.integers(), max_size=3),
)
hostile_values = st.one_of(texts, dates, numbers, nestings, wrong_types)


def _paths(tree: Any, path: tuple = ()) -> list[tuple]:
    """Every place in the tree a value sits (the root is ())."""
    found = [path]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += _paths(value, (*path, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += _paths(value, (*path, index))
    return found


def _set(tree: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return tree


@st.composite
def mutated_tree(draw, tree: Any) -> Any:
    """The tree with 0 to 3 changes: a value replaced, a key added or removed."""
    tree = copy.deepcopy(tree)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        path = draw(st.sampled_from(_paths(tree)))
        target = tree
        for key in path:
            target = target[key]
        action = draw(st.sampled_from(["replace", "replace", "add", "remove"]))
        if action == "add" and isinstance(target, dict):
            target[draw(texts)] = draw(hostile_values)
        elif action == "remove" and path:
            parent = tree
            for key in path[:-1]:
                parent = parent[key]
            del parent[path[-1]]
        else:
            tree = _set(tree, path, draw(hostile_values))
    return tree


@st.composite
def mangled_body(draw, body: bytes) -> bytes:
    """Mostly the body as it is; sometimes cut short, re-encoded, given a BOM, or buried deep."""
    how = draw(st.sampled_from(["as-is"] * 6 + ["truncate", "bom", "utf-16", "bury", "trailing", "empty"]))
    if how == "truncate":
        return body[:draw(st.integers(min_value=0, max_value=max(0, len(body) - 1)))]
    if how == "bom":
        return b"\xef\xbb\xbf" + body
    if how == "utf-16":
        return body.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass")
    if how == "bury":
        depth = draw(st.integers(min_value=1, max_value=2000))
        return b"[" * depth + body + b"]" * depth
    if how == "trailing":
        return body + draw(st.sampled_from([b"x", b"]", b"\x00", b"\xff", b" \n"]))
    if how == "empty":
        return b""
    return body
