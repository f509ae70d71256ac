"""A job's times as both generations of the original zeroG's code read them, while the document
keeps them as ISO 8601 text.

The original's job objects held ``createdAt`` and ``updatedAt`` as datetimes (naive UTC), and
its code does date arithmetic with them (``datetime.utcnow() - job.createdAt``). zeroG's code,
its documents and JSON want the text. A ``Timestamp`` is that text (a ``str``, written as it
is) that also answers as the datetime it names: its attributes and methods (``.year``,
``.strftime()``, ``.timestamp()``), subtraction, and comparison with a datetime.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["Timestamp", "naive_utc"]


def naive_utc(text: str) -> datetime | None:
    """The naive UTC datetime an ISO 8601 text names (an offset converted to UTC), or None if
    it names none."""
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return _naive(stamp)


class Timestamp(str):
    """ISO 8601 text that also acts as the naive UTC datetime it names."""

    __slots__ = ()

    @classmethod
    def of(cls, value: Any) -> Any:
        """``value`` as a Timestamp: text as it is, a datetime written out (a naive one taken as
        UTC, as the original's were); anything else (None, say) unchanged."""
        if isinstance(value, datetime):
            return cls(_naive(value).replace(tzinfo=UTC).isoformat(timespec="microseconds"))
        if isinstance(value, str) and not isinstance(value, cls):
            return cls(value)
        return value

    @property
    def as_datetime(self) -> datetime:
        stamp = naive_utc(self)
        if stamp is None:
            raise ValueError(f"{str(self)!r} is not an ISO 8601 time")
        return stamp

    def __getattr__(self, name: str) -> Any:
        # Only for names a str lacks: the datetime's (year, strftime, timestamp, date...).
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.as_datetime, name)

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, timedelta):
            return self.as_datetime - other
        if isinstance(other, datetime):
            return self.as_datetime - _naive(other)
        if isinstance(other, Timestamp):
            return self.as_datetime - other.as_datetime
        return NotImplemented

    def __rsub__(self, other: Any) -> Any:
        if isinstance(other, datetime):
            return _naive(other) - self.as_datetime
        return NotImplemented

    def _order(self, other: Any) -> tuple[datetime, datetime] | None:
        if isinstance(other, datetime):
            return self.as_datetime, _naive(other)
        return None

    def __lt__(self, other: Any) -> bool:
        pair = self._order(other)
        return pair[0] < pair[1] if pair else str.__lt__(self, other)

    def __le__(self, other: Any) -> bool:
        pair = self._order(other)
        return pair[0] <= pair[1] if pair else str.__le__(self, other)

    def __gt__(self, other: Any) -> bool:
        pair = self._order(other)
        return pair[0] > pair[1] if pair else str.__gt__(self, other)

    def __ge__(self, other: Any) -> bool:
        pair = self._order(other)
        return pair[0] >= pair[1] if pair else str.__ge__(self, other)

    def __eq__(self, other: object) -> bool:
        pair = self._order(other)
        return pair[0] == pair[1] if pair else str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = str.__hash__


def _naive(value: datetime) -> datetime:
    """A datetime as naive UTC: an aware one converted, a naive one taken as UTC already."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
