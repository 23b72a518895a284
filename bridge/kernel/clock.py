"""Time in one format: aware UTC datetimes in code, ISO-8601 strings with milliseconds in the database."""

from collections.abc import Callable
from datetime import UTC, datetime

#: Where code below the edge of the program reads "now": a function returning an aware UTC datetime.
#: Tests pass one they move by hand; nothing below the edge calls datetime.now() itself.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Sortable text form, e.g. 2026-11-21T05:54:00.123Z; naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
