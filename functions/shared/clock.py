"""The clock is injected so that rules about time can be tested without waiting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """2024-05-01T08:00:00.120Z: the one text form of an instant Telehub stores and returns (so
    stored instants compare as text, as an index's sort key does)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hour_of(moment: datetime) -> str:
    """2024-05-01T08: the UTC hour of an instant, the partition of an index by time written."""
    return iso_utc(moment)[:13]
