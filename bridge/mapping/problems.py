"""Mapping problems at file:line, the error carrying them all, and a record that cannot be sent."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.kernel.errors import BridgeError


@dataclass(frozen=True)
class Problem:
    """One finding in a mapping file, pointing at the line and the entry it is about."""

    file: str
    line: int | None  # 1-based, as editors count; None when the problem is about a whole file or folder
    where: str  # e.g. "fields[4] (Company)" or "target.key"
    message: str

    def __str__(self) -> str:
        at = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{at}: {self.where}: {self.message}"


class MappingError(BridgeError):
    """One or more mapping files are invalid; carries every problem, in file and line order."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the field mappings have {len(self.problems)} problem(s):\n{lines}")


class RecordInvalid(BridgeError):
    """A record cannot be sent through a route: a required field is empty, a value won't convert.

    Not retriable: the data or the mapping has to change. `fields` names the target fields involved.
    """

    def __init__(self, route: str, problems: list[str], fields: tuple[str, ...]):
        self.route, self.problems, self.fields = route, list(problems), fields
        super().__init__(f"route {route}: " + "; ".join(self.problems))
