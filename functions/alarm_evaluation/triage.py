"""Triage: the colour of a measurement under one threshold set, as docs/alarms.md defines it.

Pure rules over values in the catalogue unit (Decimal, as the measurements queue relays them): no
event shapes, no storage, no clock. The caller chooses the episode, the threshold version valid at the
measurement's measured_at (``thresholds_at``) and the citizen's history of the type, from which it has
already left out invalidated readings; the result depends on the history's contents, not its order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from functools import total_ordering

from functions.shared.thresholds import AbsoluteLimits, RelativeLimit, Thresholds

_RANK = {"GREEN": 0, "YELLOW": 1, "RED": 2}


@total_ordering
class Colour(Enum):
    """GREEN < YELLOW < RED for measurements. BLUE is a missed measurement, raised by the schedule and
    never by a value, so it has no place in that order: comparing it raises TypeError."""

    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"
    BLUE = "BLUE"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Colour) or Colour.BLUE in (self, other):
            return NotImplemented
        return _RANK[self.value] < _RANK[other.value]


@dataclass(frozen=True)
class Reading:
    """One value of one catalogue type (``spo2``, ``weight``, ``systolic``...) in its catalogue unit.
    A blood-pressure measurement is three readings taken together: systolic, diastolic and pulse."""

    type: str
    value: Decimal
    measured_at: datetime


def worst(colours: Iterable[Colour]) -> Colour:
    """The most severe colour, GREEN for none: an upload's colour is its worst measurement's."""
    return max(colours, default=Colour.GREEN)


def measurement_colour(readings: Sequence[Reading], thresholds: Thresholds, history: Sequence[Reading],
                       episode_started_at: datetime) -> Colour:
    """The worst colour of the readings measured together: blood pressure is as bad as the worse of
    systolic and diastolic, and its pulse counts by the pulse limits."""
    return worst(reading_colour(reading, thresholds, history, episode_started_at) for reading in readings)


def reading_colour(reading: Reading, thresholds: Thresholds, history: Sequence[Reading],
                   episode_started_at: datetime) -> Colour:
    """The worse of the absolute and the relative colour. ``history`` is the citizen's valid readings;
    those of other types, or from before the episode started, are passed over."""
    absolute = absolute_colour(reading.value, thresholds.absolute.get(reading.type))
    relative_limit = thresholds.relative.get(reading.type)
    if relative_limit is None:
        return absolute
    return max(absolute, relative_colour(reading, relative_limit, history, episode_started_at))


def absolute_colour(value: Decimal, limits: AbsoluteLimits | None) -> Colour:
    """RED below red_low or above red_high, else YELLOW below yellow_low or above yellow_high, else
    GREEN. A value equal to a limit does not alarm; a limit left out never alarms."""
    if limits is None:
        return Colour.GREEN
    if _below(value, limits.red_low) or _above(value, limits.red_high):
        return Colour.RED
    if _below(value, limits.yellow_low) or _above(value, limits.yellow_high):
        return Colour.YELLOW
    return Colour.GREEN


def relative_colour(reading: Reading, limit: RelativeLimit, history: Sequence[Reading],
                    episode_started_at: datetime) -> Colour:
    """RED if the change from the baseline is beyond red_change, else YELLOW if beyond yellow_change,
    else GREEN; GREEN without a baseline. Beyond is strictly past the limit in the limit's direction."""
    reference = baseline(reading, limit, history, episode_started_at)
    if reference is None:
        return Colour.GREEN
    change = reading.value - reference
    if _beyond(change, limit.red_change):
        return Colour.RED
    if _beyond(change, limit.yellow_change):
        return Colour.YELLOW
    return Colour.GREEN


def baseline(reading: Reading, limit: RelativeLimit, history: Sequence[Reading],
             episode_started_at: datetime) -> Decimal | None:
    """The value of the earliest reading of the type measured strictly before ``reading``, since the
    episode started (inclusive) and, for a window, within ``window_days`` before ``reading`` (inclusive).
    None when there is none: the reading is then the first, and no change can be measured."""
    start = episode_started_at
    if limit.baseline == "window" and limit.window_days is not None:
        start = max(start, reading.measured_at - timedelta(days=limit.window_days))
    earlier = [earlier for earlier in history
               if earlier.type == reading.type and start <= earlier.measured_at < reading.measured_at]
    # Ties on measured_at go to the smaller value, so that the history's order never decides.
    first = min(earlier, key=lambda candidate: (candidate.measured_at, candidate.value), default=None)
    return None if first is None else first.value


def _below(value: Decimal, limit: float | None) -> bool:
    return limit is not None and value < _exact(limit)


def _above(value: Decimal, limit: float | None) -> bool:
    return limit is not None and value > _exact(limit)


def _beyond(change: Decimal, limit: float | None) -> bool:
    if limit is None:
        return False
    return change < _exact(limit) if limit < 0 else change > _exact(limit)


def _exact(limit: float) -> Decimal:
    # A limit is the decimal it was written as: Decimal(38.1) is 38.10000000000000142..., so a value
    # of exactly 38.1 would compare below it.
    return Decimal(repr(limit))
