"""Epoch microseconds: the one unit in which the stream compares event times (Spark's `unix_micros`).

Driver-side state (the dedup window, late-event counts, incident bounds)
keeps event times as integer epoch microseconds, the unit of Spark's
`unix_micros` / `timestamp_micros`, so a value read from a table and a value
computed on the driver compare exactly, with no float rounding.

>>> to_micros(from_micros(1_700_000_000_123_456))
1700000000123456
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

MICROS = 1_000_000  # microseconds per second
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def from_micros(micros: int) -> datetime:
    """An aware UTC datetime from epoch microseconds."""
    return EPOCH + timedelta(microseconds=micros)


def to_micros(moment: datetime) -> int:
    """Epoch microseconds; a naive datetime is local time, as PySpark reads it."""
    return (moment.astimezone(timezone.utc) - EPOCH) // timedelta(microseconds=1)
