"""The in-memory shape of a route: sides, field entries, and the base class of transforms."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from marshmallow import Schema

#: What a value is at a step of a field's transform chain; "any" means not known until run time.
Kind = Literal["any", "text", "number", "boolean", "date", "datetime"]

TO_TARGET, TO_SOURCE, BOTH, NONE = "to_target", "to_source", "both", "none"
DIRECTIONS = (TO_TARGET, TO_SOURCE, BOTH, NONE)
CONFLICT_RULES = ("source_wins", "target_wins", "target_unless_blank", "newest_wins")

#: Values the service adds to a source record (the handoff engine's outputs), with their kinds.
#: They are not HubSpot properties, so they live under their own prefix; add new ones here.
BRIDGE_PREFIX = "bridge."
BRIDGE_FIELDS: dict[str, Kind] = {
    "bridge.score": "number",  # lead score computed by the service
    "bridge.stage": "text",  # awareness | interest | consideration
    "bridge.temperature": "text",  # cold | warm | hot
    "bridge.reason": "text",  # why the lead was handed off, in words
    "bridge.handoff_at": "datetime",  # when the handoff happened (UTC)
}
#: What sales did, as the service tells it (bridge/feedback): values a `direction: to_source` field reads in place of
#: a field of the sales record, to write them back to HubSpot.
SALES_FIELDS: dict[str, Kind] = {
    "bridge.sales_event": "text",  # the latest sales event: contacted, attempted, … won, lost, recycled
    "bridge.sales_outcome": "text",  # qualified | converted | won | lost | disqualified | recycled
    "bridge.sales_reason": "text",  # the reason's code in feedback.yaml's vocabulary (no_budget …), or unknown
    "bridge.sales_reason_value": "text",  # the reason as the sales system had it
    "bridge.sales_reason_label": "text",  # 予算なし / No budget
    "bridge.first_touch_at": "datetime",  # when sales first reached out (UTC)
    "bridge.won_at": "datetime",
    "bridge.lost_at": "datetime",
    "bridge.amount": "number",  # the won or lost deal's amount
}


def is_blank(value: Any) -> bool:
    """Empty means absent: None, or a string of only whitespace (full-width spaces included)."""
    return value is None or (isinstance(value, str) and not value.strip())


def as_text(value: Any) -> str:
    """A scalar as a user would type it: true/false in lower case, no trailing .0 on numbers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class TransformFailed(ValueError):
    """A transform could not convert a value; the message names the value and what was expected."""


@dataclass
class Context:
    """What a running transform may read (the record) and where it leaves notes for the preview."""

    record: Mapping[str, Any]
    notes: list[str] = field(default_factory=list)


class Transform(ABC):
    """One step of a field's chain. Subclasses set the class attributes and implement `run`.

    `Args` is the marshmallow schema of the step's arguments (None: it takes none); `shorthand`
    names the argument that a scalar sets, so `constant: Web` means `constant: {value: Web}`.
    """

    name: ClassVar[str]
    help: ClassVar[str]
    Args: ClassVar[type[Schema] | None] = None
    shorthand: ClassVar[str | None] = None
    #: Kinds this step can take as input; a chain feeding it anything else is a mapping error.
    accepts: ClassVar[frozenset[str]] = frozenset({"any", "text", "number", "boolean", "date", "datetime"})
    #: Ignores its input and makes a value from arguments or other fields: first, without `source`.
    generator: ClassVar[bool] = False
    #: `run(value)` is `apply(as_text(value))` for a value, None for None: a plain function of text (trim, nfkc…),
    #: which a chain of them can call directly (bridge/mapping/apply.py: value_function).
    text_only: ClassVar[bool] = False

    def __init__(self, **args: Any):
        self.args = args

    def output_kind(self, input_kind: Kind) -> Kind:
        return input_kind

    @abstractmethod
    def run(self, value: Any, ctx: Context) -> Any:
        """The transformed value; raise TransformFailed saying why when it cannot convert."""

    def references(self) -> tuple[str, ...]:
        """Record fields this step reads besides its input (templates, name joins)."""
        return ()

    def literals(self) -> tuple[Any, ...]:
        """Values this step can produce from its arguments, checked against a target picklist."""
        return ()

    def label(self) -> str:
        """How the step is shown in a preview: its name and its short arguments."""
        shown = [f"{k}={v}" for k, v in self.args.items() if isinstance(v, str | int | float) and len(str(v)) <= 40]
        return f"{self.name}({', '.join(shown)})" if shown else self.name


@dataclass(frozen=True)
class Side:
    """One end of a route: the system, the object (or kintone app id), and its upsert key."""

    system: str
    object: str
    key: str


@dataclass(frozen=True)
class FieldMap:
    """One entry of `fields:`; `index` is its position in the file, for pointing at it."""

    index: int
    target: str
    source: str | None = None
    direction: str = TO_TARGET
    conflict: str | None = None
    transforms: tuple[Transform, ...] = ()
    reverse: tuple[Transform, ...] = ()
    required: bool = False
    default: Any = None

    @property
    def label(self) -> str:
        return f"fields[{self.index}] ({self.target})"

    def writes_target(self) -> bool:
        return self.direction in (TO_TARGET, BOTH)

    def writes_source(self) -> bool:
        return self.direction in (TO_SOURCE, BOTH)


@dataclass(frozen=True)
class Route:
    """A mapping file: `source` records become upserts into `target`; named after the file."""

    name: str
    source: Side
    target: Side
    fields: tuple[FieldMap, ...]
    enabled: bool = True
    description: str | None = None
    path: Path | None = None

    def source_fields(self) -> tuple[str, ...]:
        """The source fields applying this route reads (bridge.* excluded): what to fetch first."""
        names = [self.source.key]
        for entry in self.fields:
            if entry.writes_target():
                names += [entry.source] if entry.source else []
                names += [name for step in entry.transforms for name in step.references()]
        return tuple(dict.fromkeys(n for n in names if not n.startswith(BRIDGE_PREFIX)))

    def summary(self) -> str:
        return (
            f"{self.source.system} {self.source.object} → "
            f"{self.target.system} {self.target.object}, "
            f"upsert on {self.target.key}, {len(self.fields)} field(s)" + ("" if self.enabled else ", disabled")
        )
