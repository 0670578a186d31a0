"""Windowed feature summaries: event-time tumbling windows with a watermark -> `feature_summary`.

A window's row is written once, when the watermark (the newest event time seen
minus `summaries.watermark`) passes the window's end; events of that window
that arrive later are left out of it. The main stream counts those events in
`stream_stats.rows_late` with `LateEventCounter`, by the same rule and the
stream's event-time clock (streaming/clock.py), so nothing is dropped silently.

    gold = start_summaries(spark, config)    # events (Delta stream) -> feature_summary
    backfill_summaries(spark, config, since)  # after a backfill: the windows the stream left out, in batch
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from lakehouse.catalog import feature_summary_schema, table_path
from lakehouse.columns import REASON
from lakehouse.config import Config
from lakehouse.delta_append import Idempotency, append
from lakehouse.eventtime import MICROS, from_micros, to_micros
from streaming.clock import EventClock
from streaming.gold import GoldQuery, GoldWriter, read_table_stream

QUERY_NAME = "isoguard-summaries"
QUANTILES = (0.5, 0.95, 0.99)
# percentile_approx accuracy: rank error at most 1/1000 of the window's count, with a small state per window.
ACCURACY = 1000


def feature_summary(events: DataFrame, config: Config) -> DataFrame:
    """Per tumbling window and feature (and key, with `summaries.per_key`): count, mean, std, min, max, p50/p95/p99.

    `count` counts the feature's non-null values; `std` is the sample standard
    deviation. On a streaming frame a window is emitted once the watermark has
    passed its end (append mode); on a static frame every window is emitted.
    """
    s, summaries = config.schema, config.summaries
    all_keys = F.lit(None).cast("string")
    rows = events.withWatermark(s.event_time, f"{summaries.watermark_seconds} seconds")
    # One copy of each event for the all-keys row (key null) and, per key, one for its own row.
    rows = rows.withColumn(s.key, F.explode(F.array(all_keys, F.col(s.key))) if summaries.per_key else all_keys)
    stats = [
        F.struct(
            F.lit(name).alias("feature"),
            F.count(name).alias("count"),
            F.avg(name).alias("mean"),
            F.stddev_samp(name).alias("std"),
            F.min(name).cast("double").alias("min"),
            F.max(name).cast("double").alias("max"),
            F.percentile_approx(F.col(name).cast("double"), list(QUANTILES), ACCURACY).alias("quantiles"),
        ).alias(f"stats_{i}")
        for i, name in enumerate(config.features)
    ]
    window = F.window(s.event_time, f"{summaries.window_seconds} seconds")
    per_window = rows.groupBy(window.alias("window"), s.key).agg(*stats)
    unpivoted = per_window.select(
        "window", s.key, F.explode(F.array(*[f"stats_{i}" for i in range(len(config.features))])).alias("stats"))
    return unpivoted.select(
        F.col("window.start").alias("window_start"),
        F.col("window.end").alias("window_end"),
        "stats.feature",
        s.key,
        "stats.count", "stats.mean", "stats.std", "stats.min", "stats.max",
        *[F.col("stats.quantiles")[i].alias(f"p{round(q * 100)}") for i, q in enumerate(QUANTILES)],
        F.current_timestamp().alias("written_at"),
        F.to_date("window.start").alias("window_date"),
    ).select(*[field.name for field in feature_summary_schema(config).fields])


def window_end_micros(event_time: Column, window_seconds: int) -> Column:
    """The end of the tumbling window holding `event_time`, in epoch microseconds (the windows of `F.window`)."""
    micros, width = F.unix_micros(event_time), F.lit(window_seconds * MICROS)
    return micros - F.pmod(micros, width) + width


class LateEventCounter:
    """Counts the events of a micro-batch that arrived after their window closed, by the stream's event-time clock.

    A window is final once the clock (streaming/clock.py: the newest event time
    of the *earlier* micro-batches) minus the watermark has passed its end; the
    rule of Spark's watermark for the window aggregation. The summaries query
    trails the main stream and reads whole commits of `events`, so its watermark
    is never ahead of this clock: every event `feature_summary` leaves out is
    counted here, and a counted one may still have made it into its window when
    the summaries query was behind. (The Delta source splits a commit only when
    it catches up over more than 1000 files.) The clock is the sink's, shared
    with the duplicate window, and moved by the sink, never here.

    Per micro-batch: `aggregates()` in the batch's aggregation, `stats_columns()`
    for its stream_stats row. Where the deduplicator has the stored events' times
    on the driver, `stats_columns` counts late events among them, so a dropped
    duplicate of a late event is counted once, as a duplicate, not also as late.
    """

    def __init__(self, config: Config, clock: EventClock, valid: Column | None = None):
        self.config = config
        self.clock = clock
        self.valid = F.col(REASON).isNull() if valid is None else valid

    def _closed_before(self) -> int | None:
        """Windows ending at or before this (epoch micros) are final; None before the first event."""
        return self.clock.horizon(self.config.summaries.watermark_seconds * MICROS)

    def count_late(self, times: np.ndarray) -> int:
        """How many of these event times (epoch micros) fall in final windows: the rule of `aggregates()`."""
        closed_before = self._closed_before()
        if closed_before is None or not len(times):
            return 0
        width = self.config.summaries.window_seconds * MICROS
        return int((times - np.mod(times, width) + width <= closed_before).sum())

    def aggregates(self) -> list[Column]:
        """Aggregate columns `rows_late` and `newest_event_micros` (for the clock) over a validated micro-batch."""
        event_time = F.col(self.config.schema.event_time)
        closed_before = self._closed_before()
        if closed_before is None:
            late = F.lit(False)
        else:
            late = self.valid & (window_end_micros(event_time, self.config.summaries.window_seconds) <= closed_before)
        return [F.count(F.when(late, 1)).alias("rows_late"),
                F.unix_micros(F.max(F.when(self.valid, event_time))).alias("newest_event_micros")]

    def stats_columns(self, totals, stored_times: np.ndarray | None = None) -> dict:
        """The stream_stats columns of a micro-batch, from the row of `aggregates()` or the stored events' times.

        The clock has observed the batch: `max_event_time` is the time it moves to once the row is committed.
        """
        late = totals.rows_late if stored_times is None else self.count_late(stored_times)
        return {"rows_late": late, "max_event_time": self.clock.after_batch_time()}


class SummaryWriter(GoldWriter):
    """`foreachBatch` target: append the windows that became final, idempotently per batch."""

    def write(self, batch: DataFrame, token: Idempotency) -> None:
        # Run the aggregation (and commit its state) even when Delta skips a replayed batch's append:
        # Spark checks that every state partition of the batch was committed.
        finished = batch.localCheckpoint(eager=True)
        self.retry.run(f"summaries batch {token.version}: append to feature_summary",
                       lambda attempt: append(finished, self.config, "feature_summary", token))


def start_summaries(spark: SparkSession, config: Config, available_now: bool = False) -> GoldQuery:
    """events (Delta stream) -> feature_summary; the tables must exist (`ensure_tables`)."""
    summaries = feature_summary(read_table_stream(spark, config, "events"), config)
    writer = SummaryWriter(config)
    query: StreamingQuery = writer.start(
        summaries.writeStream.outputMode("append").queryName(QUERY_NAME),
        config.lake_path(config.summaries.checkpoint), config.summaries.trigger_seconds, available_now)
    return GoldQuery(query, writer)


def _committed_watermark(spark: SparkSession, checkpoint: str) -> datetime | None:
    """The watermark the summaries query's last committed micro-batch used (windows ending by then are written).

    Read from the checkpoint's offset log (`batchWatermarkMs`), through Hadoop's file
    system so that it works on object storage too; None before the first batch.
    """
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    root = jvm.org.apache.hadoop.fs.Path(checkpoint)
    fs = root.getFileSystem(conf)

    def batch_ids(folder: str) -> set[int]:
        path = jvm.org.apache.hadoop.fs.Path(root, folder)
        if not fs.exists(path):
            return set()
        return {int(s.getPath().getName()) for s in fs.listStatus(path) if s.getPath().getName().isdigit()}

    committed = batch_ids("offsets") & batch_ids("commits")
    if not committed:
        return None
    stream = fs.open(jvm.org.apache.hadoop.fs.Path(root, f"offsets/{max(committed)}"))
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        reader.readLine()  # the log format version, e.g. "v1"
        metadata = json.loads(reader.readLine())
    finally:
        stream.close()
    return from_micros(0) + timedelta(milliseconds=int(metadata.get("batchWatermarkMs", 0)))


def backfill_summaries(spark: SparkSession, config: Config, ingested_since: datetime) -> dict:
    """feature_summary of the events ingested since then, recomputed in batch: what a stream of history leaves out.

    A backlog of history read in several micro-batches moves the summaries query's
    watermark past windows whose events come in a later micro-batch (replays out of
    event-time order, several series, a commit split across batches), so the stream
    leaves those events out of their windows. Here every window from the first such
    event's window up to the query's committed watermark is computed from all of
    `events` and replaces the rows of those windows in one Delta commit
    (`replaceWhere`): idempotent, a rerun writes the same windows. Windows past that
    watermark are still open in the stream's state, are left to it, and it writes
    them once, complete. Run it after the summaries query has caught up (the job's
    `--backfill` does). Costs: a scan of `events` for the ingestion range (no
    statistics on `ingested_at`) and a batch aggregation of the replaced windows.
    """
    events = spark.read.format("delta").load(table_path(config, "events"))
    first = events.filter(F.col("ingested_at") >= F.lit(ingested_since)).agg(
        F.min(config.schema.event_time)).first()[0]
    watermark = _committed_watermark(spark, config.lake_path(config.summaries.checkpoint))
    width = config.summaries.window_seconds * MICROS
    if first is None or watermark is None:
        return {"windows_from": None, "windows_until": None, "events": 0, "rows": 0}
    start = from_micros(to_micros(first) // width * width)
    end = from_micros(to_micros(watermark) // width * width)  # windows starting before it end by the watermark
    if end <= start:
        return {"windows_from": start, "windows_until": end, "events": 0, "rows": 0}
    event_time = F.col(config.schema.event_time)
    in_range = events.filter((event_time >= F.lit(start)) & (event_time < F.lit(end)))
    rows = feature_summary(in_range, config).localCheckpoint(eager=True)
    where = f"window_start >= timestamp_micros({to_micros(start)}) AND window_start < timestamp_micros({to_micros(end)})"
    (rows.write.format("delta").mode("overwrite").option("replaceWhere", where)
     .save(table_path(config, "feature_summary")))
    counted = in_range.count()
    return {"windows_from": start, "windows_until": end, "events": counted, "rows": rows.count()}
