"""Duplicate event ids: dropped within the watermark, and counted.

A valid event is a duplicate when an event with the same id is already stored
in `events` (from an earlier micro-batch, or kept earlier in the same one) and
that stored event's time is within `summaries.watermark` of the stream's
event-time clock (streaming/clock.py: the newest valid event time of the
recorded micro-batches, kept in `stream_stats.max_event_time`). Duplicates go
to no table; the sink counts them in `stream_stats.rows_duplicate`. Within a
micro-batch the first copy is kept: the earliest to arrive, then the first in
its file (or Kafka partition).

Cost per micro-batch: one small Spark job brings the batch's (id hash, source
hash, event time) to the driver as Arrow, where numpy checks them against the
window: the ids stored within the watermark, sorted (about 20 bytes per event:
2 minutes at 42k events/s is 100 MB). Only when a batch holds candidates (an id
hash seen before, or twice in the batch) does Spark resolve them exactly, by
the real id; usually nothing else runs. Ids are compared across micro-batches
by their 64-bit xxhash: two different ids collide about once in 10^13 lookups
against a 2-minute window at 42k events/s.

Exactly once across restarts: the window is rebuilt from `events` on the first
micro-batch a run executes, back to the restored clock minus the watermark. If
that batch is a replay whose `events` append had committed before the crash,
its own rows are in `events` already; a stored event from the same source
position (file, or Kafka topic/partition/offset) as a batch row is that row
itself, not an earlier copy, so the replay decides as the first run did.

    dedup = Deduplicator(config, clock)        # the sink's EventClock
    clock.restore(spark, query_id, batch_id); dedup.restore(spark)   # every batch; act on a run's first
    unique = dedup.drop_duplicates(valid)      # -> .events (to write), .duplicates (to count)
    ...write, record...; clock.advance(); dedup.advance()   # once the batch is recorded
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lakehouse.catalog import table_path
from lakehouse.columns import ARRIVED, PREFIX, SOURCE
from lakehouse.config import Config
from lakehouse.eventtime import MICROS
from streaming.clock import EventClock

# Working columns of the exact resolution, named outside the event fields' namespace (lakehouse/columns.py).
POSITION, ID, SOURCE_ID, STORED_ID, STORED_SOURCE, N = (PREFIX + n for n in (
    "position", "id", "source", "stored_id", "stored_source", "n"))


def id_hash(config: Config) -> Column:
    return F.xxhash64(F.col(config.schema.event_id))


def source_hash(column: str = SOURCE) -> Column:
    """The hash of a source position: in flight (`SOURCE`) or as `events` stores it (`source_file`)."""
    return F.hash(F.col(column))


@dataclass(frozen=True)
class _Run:
    """Stored ids sorted by id hash, with each one's source hash and event time (epoch micros)."""

    ids: np.ndarray
    sources: np.ndarray
    times: np.ndarray

    @staticmethod
    def of(ids: np.ndarray, sources: np.ndarray, times: np.ndarray) -> "_Run":
        order = np.argsort(ids, kind="stable")
        return _Run(ids[order], sources[order], times[order])

    def merged(self, other: "_Run", horizon: int | None = None) -> "_Run":
        """This run and `other` as one, without the entries older than `horizon`."""
        mine, theirs = (self, other) if horizon is None else (self._since(horizon), other._since(horizon))
        return _Run.of(*(np.concatenate(pair) for pair in zip((mine.ids, mine.sources, mine.times),
                                                              (theirs.ids, theirs.sources, theirs.times))))

    def _since(self, horizon: int) -> "_Run":
        keep = self.times >= horizon
        return self if keep.all() else _Run(self.ids[keep], self.sources[keep], self.times[keep])

    def matches(self, sorted_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query position, run position) of every entry whose id hash equals one of `sorted_ids`."""
        lo = np.searchsorted(self.ids, sorted_ids, "left")
        hit = np.flatnonzero(self.ids[np.minimum(lo, len(self.ids) - 1)] == sorted_ids) if len(self.ids) else lo[:0]
        counts = np.searchsorted(self.ids, sorted_ids[hit], "right") - lo[hit]
        # Each hit's run of equal ids, lo .. lo + count - 1, flattened.
        positions = np.repeat(lo[hit] - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        return np.repeat(hit, counts), positions


EMPTY = _Run(np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, np.int64))


class IdWindow:
    """The ids stored within the watermark, as two sorted runs: `base`, and `recent` for the latest batches.

    A batch's ids go into the small `recent` run; every `merge_every` batches it is
    merged into `base`, and expired entries are dropped then. Lookups skip expired
    entries, so when they are dropped changes nothing but memory.
    """

    def __init__(self, merge_every: int = 8):
        self.base, self.recent = EMPTY, EMPTY
        self.merge_every, self._batches = merge_every, 0

    def __len__(self) -> int:
        return len(self.base.ids) + len(self.recent.ids)

    def add(self, ids: np.ndarray, sources: np.ndarray, times: np.ndarray, horizon: int | None = None) -> None:
        self.recent = self.recent.merged(_Run.of(ids, sources, times))
        self._batches += 1
        if self._batches >= self.merge_every:
            self.base, self.recent, self._batches = self.base.merged(self.recent, horizon), EMPTY, 0

    def entries(self, ids: np.ndarray, horizon: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(index into `ids`, id hash, source hash) of every live stored entry whose id hash is one of `ids`."""
        order = np.argsort(ids, kind="stable")
        found = []
        for run in (self.base, self.recent):
            query, at = run.matches(ids[order])
            live = run.times[at] >= horizon if horizon is not None else np.ones(len(at), bool)
            found.append((order[query[live]], run.ids[at[live]], run.sources[at[live]]))
        return tuple(np.concatenate(parts) for parts in zip(*found))


@dataclass
class Deduplicated:
    events: DataFrame                  # the valid rows without duplicates
    duplicates: int
    times: np.ndarray | None = None    # event times (epoch micros) of `events`; None when deduplication is off


class Deduplicator:
    """Drops valid events whose id was stored within the watermark of `clock`; see the module docstring.

    The clock is shared (the sink's) and moved by its owner, never here: `advance()`
    comes after the clock's own, so expired ids are dropped against the new time.
    """

    def __init__(self, config: Config, clock: EventClock):
        self.config = config
        self.clock = clock
        self.enabled = config.stream.deduplicate
        self.watermark = config.summaries.watermark_seconds * MICROS
        self.window = IdWindow()
        self._pending: tuple | None = None   # (ids, sources, times) of the batch being written
        self._restored = False

    @property
    def horizon(self) -> int | None:
        return self.clock.horizon(self.watermark)

    def restore(self, spark: SparkSession) -> None:
        """On the first batch this run executes: rebuild the window from `events`, back to the clock's horizon."""
        if not self.enabled or self._restored:
            return
        if not self.clock.restored:
            raise RuntimeError("restore the event clock before the duplicate window")
        self._restored = True
        self.window = IdWindow()
        if self.horizon is None:
            return
        s = self.config.schema
        since = F.timestamp_micros(F.lit(self.horizon))
        stored = (spark.read.format("delta").load(table_path(self.config, "events"))
                  .filter(F.col(s.event_time) >= since)
                  .select(id_hash(self.config).alias("id"), source_hash("source_file").alias("source"),
                          F.unix_micros(s.event_time).alias("time"))
                  .toArrow())
        self.window.add(*_columns(stored), self.horizon)

    def drop_duplicates(self, valid: DataFrame) -> Deduplicated:
        """`valid` (validated rows without a reason) without its duplicates."""
        if not self.enabled:
            return Deduplicated(valid, 0)
        s = self.config.schema
        keys = valid.select(id_hash(self.config).alias("id"), source_hash().alias("source"),
                            F.unix_micros(s.event_time).alias("time")).toArrow()
        ids, sources, times = _columns(keys)
        stored_rows, stored_ids, stored_sources = self.window.entries(ids, self.horizon)
        # Candidates: an id stored from another source position, or an id twice in this batch.
        earlier = stored_rows[stored_sources != sources[stored_rows]]
        unique_ids, counts = np.unique(ids, return_counts=True)
        flagged = np.union1d(ids[earlier], unique_ids[counts > 1])
        if len(flagged) == 0:
            self._pending = (ids, sources, times)
            return Deduplicated(valid, 0, times)
        in_flagged = np.isin(ids, flagged)
        matches = np.isin(stored_ids, flagged)
        events, kept = self._resolve(valid, flagged, stored_ids[matches], stored_sources[matches])
        kept_ids, kept_sources, kept_times = _columns(kept)
        keep = ~in_flagged
        kept_all_times = np.concatenate([times[keep], kept_times])
        self._pending = (np.concatenate([ids[keep], kept_ids]), np.concatenate([sources[keep], kept_sources]),
                         kept_all_times)
        return Deduplicated(events, int(in_flagged.sum()) - len(kept_ids), kept_all_times)

    def _resolve(self, valid: DataFrame, flagged: np.ndarray, stored_ids: np.ndarray,
                 stored_sources: np.ndarray) -> tuple[DataFrame, pa.Table]:
        """Exactly, in Spark, for the rows with a flagged id hash: the rows to keep and their keys."""
        spark, s = valid.sparkSession, self.config.schema
        # Position within the source: line order within a file (a file under spark.sql.files.maxPartitionBytes
        # is one partition, whatever the partitioning), offset order within a Kafka partition.
        tagged = (valid.withColumn(POSITION, F.monotonically_increasing_id())
                  .withColumn(ID, id_hash(self.config)).withColumn(SOURCE_ID, source_hash()))
        flagged_df = F.broadcast(spark.createDataFrame(pd.DataFrame({ID: flagged})))
        stored = F.broadcast(spark.createDataFrame(
            pd.DataFrame({STORED_ID: stored_ids, STORED_SOURCE: stored_sources}),
            f"{STORED_ID} long, {STORED_SOURCE} int"))
        candidates = tagged.join(flagged_df, ID, "left_semi")
        earlier = (F.col(ID) == F.col(STORED_ID)) & (F.col(SOURCE_ID) != F.col(STORED_SOURCE))
        order = [c for c in (ARRIVED, SOURCE) if c in valid.columns] + [POSITION]
        first = (candidates.join(stored, earlier, "left_anti")
                 .withColumn(N, F.row_number().over(Window.partitionBy(s.event_id).orderBy(*order)))
                 .filter(F.col(N) == 1).drop(N))
        kept = first.select(F.col(ID).alias("id"), F.col(SOURCE_ID).alias("source"),
                            F.unix_micros(s.event_time).alias("time")).toArrow()
        events = tagged.join(flagged_df, ID, "left_anti").unionByName(first).drop(ID, SOURCE_ID, POSITION)
        return events, kept

    def advance(self) -> None:
        """The micro-batch is recorded (and the clock advanced): its kept ids join the window."""
        if self._pending is None:
            return
        ids, sources, times = self._pending
        self._pending = None
        self.window.add(ids, sources, times, self.horizon)


def _columns(keys: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    def column(name, dtype):
        return np.asarray(keys.column(name).to_numpy(), dtype=dtype)
    return column("id", np.int64), column("source", np.int32), column("time", np.int64)
