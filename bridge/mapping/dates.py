"""Dates and date-times as the systems and Japanese users write them, converted between zones."""

from __future__ import annotations

import unicodedata
from abc import abstractmethod
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import ValidationError, fields

from bridge.mapping.model import Context, Transform, TransformFailed, is_blank
from bridge.mapping.schema_types import StrictSchema, TimeZoneName

# Tried in order after ISO 8601; Japanese forms included. Formats without %H give a date.
_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日 %H時%M分",
    "%Y年%m月%d日",
)
_UTC_NAMES = ("UTC", "Etc/UTC")


def parse_moment(value: Any, input_format: str | None = None) -> date | datetime:
    """A date or date-time from ISO text, epoch milliseconds (HubSpot), or a common written form."""
    if isinstance(value, date):  # datetime is a date too
        return value
    if isinstance(value, bool):
        raise TransformFailed(f"{value!r} is not a date")
    if isinstance(value, int | float):
        return _from_epoch_ms(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()  # full-width digits: ２０２４/１/５
    if input_format:
        try:
            parsed = datetime.strptime(text, input_format)
        except ValueError:
            raise TransformFailed(f"{value!r} does not match input_format {input_format!r}") from None
        return parsed if "%H" in input_format else parsed.date()
    if text.isdigit() and len(text) > 8:  # HubSpot sends date-times as epoch milliseconds
        return _from_epoch_ms(int(text))
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            return parse(text)
        except ValueError:
            pass
    for form in _FORMATS:
        try:
            parsed = datetime.strptime(text, form)
        except ValueError:
            continue
        return parsed if "%H" in form else parsed.date()
    raise TransformFailed(f"{value!r} is not a date or date-time this mapping can read; set input_format")


def _from_epoch_ms(ms: float) -> datetime:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise TransformFailed(f"{ms!r} is not a time in epoch milliseconds") from None


def in_zone(moment: date | datetime, input_tz: ZoneInfo, tz: ZoneInfo) -> datetime:
    """The moment as a date-time in `tz`; a date or a time without offset is read in `input_tz`."""
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(), input_tz)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=input_tz)
    return moment.astimezone(tz)


def check_format(text: str) -> None:
    if "%" not in text:
        raise ValidationError(f"{text!r} has no % codes; write e.g. %Y/%m/%d or %Y年%m月%d日 (not YYYY/MM/DD)")


class MomentArgs(StrictSchema):
    tz = TimeZoneName(
        load_default="UTC",
        metadata={"description": "変換先のタイムゾーン / time zone of the result, e.g. Asia/Tokyo"},
    )
    input_tz = TimeZoneName(
        load_default="UTC",
        metadata={"description": "時差のない入力のゾーン / zone assumed for input without an offset"},
    )
    format = fields.String(
        validate=check_format,
        metadata={"description": "出力形式 (strftime) e.g. %Y/%m/%d / output format; ISO 8601 when absent"},
    )
    input_format = fields.String(
        validate=check_format,
        metadata={"description": "入力形式 (strptime) / input format when the value is in an unusual form"},
    )


class _Moment(Transform):
    Args = MomentArgs
    accepts = frozenset({"any", "text", "number", "date", "datetime"})
    kind: str

    def __init__(
        self,
        tz: str = "UTC",
        input_tz: str = "UTC",
        format: str | None = None,
        input_format: str | None = None,
    ):
        super().__init__(tz=tz, **({"format": format} if format else {}))
        self.tz_name = tz
        self.tz, self.input_tz = ZoneInfo(tz), ZoneInfo(input_tz)
        self.format, self.input_format = format, input_format

    def output_kind(self, input_kind: str) -> str:
        return "text" if self.format else self.kind  # a custom format is text to the target

    def run(self, value: Any, ctx: Context) -> Any:
        if is_blank(value):
            return None
        return self.convert(parse_moment(value, self.input_format))

    @abstractmethod
    def convert(self, moment: date | datetime) -> str:
        """The parsed moment as the target's text form."""


class DateTransform(_Moment):
    name = "date"
    help = "日付に変換 (タイムゾーン換算つき) / a date, converted to a time zone, ISO or formatted"
    kind = "date"

    def convert(self, moment: date | datetime) -> str:
        day = in_zone(moment, self.input_tz, self.tz).date() if isinstance(moment, datetime) else moment
        return day.strftime(self.format) if self.format else day.isoformat()


class DateTimeTransform(_Moment):
    name = "datetime"
    help = "日時に変換 (タイムゾーン換算つき) / a date-time in a time zone, ISO 8601 or formatted"
    kind = "datetime"

    def convert(self, moment: date | datetime) -> str:
        stamp = in_zone(moment, self.input_tz, self.tz)
        if self.format:
            return stamp.strftime(self.format)
        text = stamp.isoformat(timespec="seconds")
        # kintone documents DATETIME values as UTC with a Z suffix; Salesforce accepts both forms.
        return text.replace("+00:00", "Z") if self.tz_name in _UTC_NAMES else text
