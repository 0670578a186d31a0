"""Score the events that were stored while there was no model, once there is one.

Why: the stream stores every valid event even when no champion can be loaded
(none registered yet, MLflow down at start). Those events would stay unscored
for good; instead, the first micro-batches that have a model score them too, in
bounded slices, and record it in stream_stats (`rows_backfilled`,
`backfilled_through`).

How: stream_stats says which micro-batches stored events without a model
(`model_version` null, `rows_valid` > 0). Their events are the ones whose
`ingested_at` lies after the previous micro-batch finished and no later than
the unscored one finished (this also covers the first attempt of a batch cut
short by a crash, whose events carry that attempt's time). Events already in
`scores` are left out (anti-join on the event id within their `event_date`
partitions), so a model that came and went in between scores nothing twice.
`backfilled_through` in stream_stats records how far the backfill got.

Invariants: exactly-once. The backfill's append to `scores` carries its own
`txnAppId` (the query id + "-backfill") and the micro-batch id, so a batch
replayed after a crash skips it; the slice is decided from stream_stats, which
the replay sees unchanged (its own stats row is the last write of a batch).
Costs: one read of stream_stats at the first micro-batch with a model of each
run and after every batch stored without a model; per slice, a read of at most
`stream.backfill_max_rows` events (whole micro-batches, at least one) and of
`scores` in their event dates. `ingested_at` has no Delta statistics, so a slice
opens the footer of every file of `events` (Parquet row-group statistics skip
the rest of them): seconds on a large lake, paid only while a backlog is scored.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.catalog import table_path
from lakehouse.config import Config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slice:
    """Events ingested in (after, through] that may be unscored, about `rows` of them."""

    after: datetime | None
    through: datetime
    rows: int
    more: bool  # more unscored micro-batches wait after this slice


class UnscoredBackfill:
    def __init__(self, config: Config):
        self.config = config
        self._maybe_pending = True  # unknown at start: look once

    def stored_without_model(self) -> None:
        """A micro-batch stored events without a model: look again once there is one."""
        self._maybe_pending = True

    def next_slice(self, spark: SparkSession) -> Slice | None:
        """The oldest micro-batches stored without a model and not backfilled yet, up to backfill_max_rows."""
        if not self._maybe_pending:
            return None
        stats = (spark.read.format("delta").load(table_path(self.config, "stream_stats"))
                 .select("finished_at", "rows_valid", "model_version", "backfilled_through").collect())
        done = max((r.backfilled_through for r in stats if r.backfilled_through is not None), default=None)
        rows = sorted(stats, key=lambda r: r.finished_at)
        taken, total, after, more = [], 0, done, False
        for i, r in enumerate(rows):
            if done is not None and r.finished_at <= done:
                continue
            if r.model_version is not None or not r.rows_valid:
                continue
            if taken and total >= self.config.stream.backfill_max_rows:
                more = True
                break
            if not taken and i > 0:
                after = max(rows[i - 1].finished_at, done) if done is not None else rows[i - 1].finished_at
            taken.append(r)
            total += r.rows_valid
        if not taken:
            self._maybe_pending = False
            return None
        return Slice(after=after, through=taken[-1].finished_at, rows=total, more=more)

    def events(self, spark: SparkSession, piece: Slice) -> DataFrame:
        """The slice's stored events that are not in `scores` yet."""
        ingested = F.col("ingested_at") <= F.lit(piece.through)
        if piece.after is not None:
            ingested &= F.col("ingested_at") > F.lit(piece.after)
        events = spark.read.format("delta").load(table_path(self.config, "events")).filter(ingested)
        dates = [r.event_date for r in events.select("event_date").distinct().collect()]
        if not dates:
            return events.limit(0)
        event_id = self.config.schema.event_id
        scored = (spark.read.format("delta").load(table_path(self.config, "scores"))
                  .filter(F.col("event_date").isin(dates)).select(event_id, "event_date"))
        return events.join(scored, [event_id, "event_date"], "left_anti")

    def finished(self, piece: Slice) -> None:
        """The slice's stats row is committed."""
        if not piece.more:
            self._maybe_pending = False
