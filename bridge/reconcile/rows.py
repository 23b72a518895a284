"""Records held compactly while a reconciliation compares them: a tuple of values per record against one shared
name index per table, and repeated values (a company, a status, a picklist) kept once.

A dict per record costs about 700 bytes before its values; 100,000 records per system then hold more memory than
the whole run may use. A `Row` reads like the dict it replaces (`get`, `[]`, `in`, iteration)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

#: Distinct text values a table remembers to share: past this it is a column of unique values (an address, an id).
SHARED_VALUES = 50_000
_ABSENT = object()


class Rows:
    """One system object's records as read: `add` keeps a record as a Row."""

    def __init__(self) -> None:
        self.names: dict[str, int] = {}
        self.shared: dict[str, str] = {}

    def add(self, record: Mapping[str, Any]) -> Row:
        names, shared = self.names, self.shared
        values: list[Any] = [_ABSENT] * len(names)
        for name, value in record.items():
            if value.__class__ is str and len(value) <= 64:
                value = shared.get(value) or (shared.setdefault(value, value) if len(shared) < SHARED_VALUES
                                              else value)
            index = names.get(name)
            if index is None:
                index = names[name] = len(names)
                values.append(_ABSENT)
            values[index] = value
        return Row(names, tuple(values))


class Row(Mapping[str, Any]):
    """One record of a `Rows` table, read like a dict."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: dict[str, int], values: tuple) -> None:
        self._names, self._values = names, values

    def get(self, name: str, default: Any = None) -> Any:
        index = self._names.get(name)
        if index is None or index >= len(self._values):
            return default
        value = self._values[index]
        return default if value is _ABSENT else value

    def __getitem__(self, name: str) -> Any:
        value = self.get(name, _ABSENT)
        if value is _ABSENT:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        values = self._values
        return (name for name, index in self._names.items() if index < len(values) and values[index] is not _ABSENT)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"Row({dict(self)!r})"
