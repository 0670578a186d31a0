"""The stream's event-time clock: the newest valid event time of the recorded micro-batches.

Why one object: the duplicate window (streaming/dedup.py: ids stored within the
watermark of this time) and the late-event count (streaming/feature_summary.py:
events whose summary window closed by this time minus the watermark) must
decide from the same time, or a restart could count an event as both, or as
neither. The sink owns the clock and hands it to both.

Invariants:
- It is restored once per run, on the first micro-batch the run executes, from
  the committed `stream_stats` rows (`max_event_time`), leaving out that batch
  and later ones of the same query: a batch replayed after a crash whose
  stream_stats row had committed decides as its first run did. Nothing else is
  read back, so the clock is exactly-once across a SIGKILL.
- It moves once per micro-batch, by the sink: `observe(newest)` when the batch
  is computed (the newest valid event time in it, duplicates included), and
  `advance()` once its stream_stats row, which records that time, is committed.
  A batch that fails never advances it; the next batch's `observe` replaces it.
- It never goes back: an older batch leaves it where it is.

Cost: one aggregate over `stream_stats` (one row per micro-batch) per run.

    clock = EventClock.from_config(config)
    clock.restore(spark, query_id, batch_id)   # every batch; acts on the first one a run executes
    clock.observe(newest_micros)               # the batch's newest valid event time (or None)
    ...write, record stream_stats (max_event_time = clock.after_batch_time())...
    clock.advance()
"""
from __future__ import annotations

from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.catalog import table_path
from lakehouse.config import Config
from lakehouse.eventtime import from_micros


class EventClock:
    """The newest valid event time (epoch micros) of the recorded micro-batches; None before the first event."""

    def __init__(self, stats_path: str):
        self.stats_path = stats_path
        self.newest: int | None = None
        self._observed: int | None = None   # the newest valid event time of the batch in flight
        self._restored = False

    @classmethod
    def from_config(cls, config: Config) -> "EventClock":
        """The clock kept in the lake's `stream_stats` table."""
        return cls(table_path(config, "stream_stats"))

    @classmethod
    def at(cls, newest: int | None) -> "EventClock":
        """A clock already at `newest` (epoch micros) that reads no table (benchmarks, synthetic windows)."""
        clock = cls("")
        clock.newest, clock._restored = newest, True
        return clock

    @property
    def restored(self) -> bool:
        return self._restored

    def restore(self, spark: SparkSession, query_id: str, batch_id: int) -> None:
        """On the first micro-batch this run executes (`batch_id` of query `query_id`): the time before it.

        Later calls do nothing: from then on only `advance()` moves the clock.
        """
        if self._restored:
            return
        stats = spark.read.format("delta").load(self.stats_path)
        replayed = F.coalesce((F.col("query_id") == query_id) & (F.col("batch_id") >= batch_id), F.lit(False))
        self.newest = stats.filter(~replayed).agg(F.unix_micros(F.max("max_event_time"))).first()[0]
        self._observed = None
        self._restored = True

    def horizon(self, behind_micros: int) -> int | None:
        """The clock minus `behind_micros` (a watermark); None before the first event."""
        return None if self.newest is None else self.newest - behind_micros

    def newest_time(self) -> datetime | None:
        """The clock as an aware UTC datetime; None before the first event."""
        return None if self.newest is None else from_micros(self.newest)

    def observe(self, newest: int | None) -> None:
        """The newest valid event time (epoch micros) of the batch in flight; None if it holds no valid event."""
        self._observed = None if newest is None else int(newest)

    @property
    def after_batch(self) -> int | None:
        """What the clock will be once the batch in flight is recorded."""
        seen = [t for t in (self.newest, self._observed) if t is not None]
        return max(seen) if seen else None

    def after_batch_time(self) -> datetime | None:
        """`after_batch` as an aware UTC datetime: the batch's `stream_stats.max_event_time`."""
        after = self.after_batch
        return None if after is None else from_micros(after)

    def advance(self) -> None:
        """The batch in flight is recorded (its stream_stats row committed): its events now move the clock."""
        self.newest, self._observed = self.after_batch, None
