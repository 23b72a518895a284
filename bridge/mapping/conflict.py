"""Which side wins when a two-way field differs: the meaning of each `conflict:` rule."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from bridge.mapping.model import is_blank


def winner(
    rule: str,
    source_value: Any,
    target_value: Any,
    source_changed_at: datetime | None = None,
    target_changed_at: datetime | None = None,
) -> Literal["source", "target"]:
    """The side whose value both sides should end up with.

    target_unless_blank lets sales' value stand unless sales left it empty; newest_wins needs both
    change times and keeps the target on a tie, so an unchanged pair causes no write.
    """
    if rule == "source_wins":
        return "source"
    if rule == "target_wins":
        return "target"
    if rule == "target_unless_blank":
        return "source" if is_blank(target_value) else "target"
    if rule == "newest_wins":
        if source_changed_at is None or target_changed_at is None:
            raise ValueError("newest_wins needs the change time of both sides")
        return "source" if source_changed_at > target_changed_at else "target"
    raise ValueError(f"unknown conflict rule {rule!r}")
