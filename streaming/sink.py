"""The micro-batch sink: one validated computation, written to every table idempotently.

Each Delta append carries an idempotency token (lakehouse/delta_append.py:
`txnAppId` = the streaming query's id, stable across restarts from the same
checkpoint, `txnVersion` = the batch id), so a batch replayed after a crash is
skipped by the tables that already committed it; stream_stats is looked up by
its natural key instead. The sink owns the stream's event-time clock
(streaming/clock.py), restored on the first batch a run executes and advanced
once a batch's stream_stats row is committed; the duplicate window and the
late-event count read it.
An append that fails with an I/O error is retried with backoff
(streaming/commit_retry.py); events stored while there was no model are scored
by a later batch once there is one (streaming/unscored.py).
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from features.engineering import build_features
from features.validation import split_valid, stored_raw, validate
from lakehouse.catalog import stream_stats_schema, table_path
from lakehouse.columns import ARRIVED, DETAIL, INGESTED, RAW, REASON, RECORD_BYTES, SOURCE
from lakehouse.config import Config
from lakehouse.delta_append import Idempotency, append
from streaming.backlog import BacklogGauge
from streaming.champion import ChampionWatcher
from streaming.clock import EventClock
from streaming.commit_retry import CommitRetry
from streaming.stopping import BatchRefused
from streaming.dedup import Deduplicator
from streaming.landing import apply_reports, report_aggregates
from streaming.feature_summary import LateEventCounter
from streaming.unscored import UnscoredBackfill

log = logging.getLogger(__name__)

QUERY_NAME = "isoguard-stream"


def events_frame(valid: DataFrame, config: Config) -> DataFrame:
    """The stored columns of valid events: the pipeline's own columns get their table names here."""
    return valid.select(*config.schema.names, F.col(INGESTED).alias("ingested_at"), F.col(SOURCE).alias("source_file"),
                        F.to_date(config.schema.event_time).alias("event_date"))


def quarantine_frame(rejected: DataFrame, batch_id: int) -> DataFrame:
    """Rejected records; the raw text was already cut to its stored prefix (`stored_raw`) before the batch was cached."""
    return rejected.select(
        F.col(RAW).alias("raw"), F.col(REASON).alias("reason"), F.col(DETAIL).alias("detail"),
        F.col(SOURCE).alias("source_file"), F.lit(batch_id).cast("long").alias("batch_id"),
        F.col(INGESTED).alias("ingested_at"), F.to_date(INGESTED).alias("ingest_date"),
        F.col(RECORD_BYTES).cast("long").alias("raw_bytes"),
    )


def scores_frame(events: DataFrame, config: Config, loaded) -> DataFrame:
    s = config.schema
    scored = loaded.model.transform(build_features(events, config))
    return scored.select(
        s.event_id, s.key, s.event_time, *config.features, "anomaly_score", "is_anomaly", "top_features",
        F.lit(loaded.threshold).alias("threshold"),
        F.lit(loaded.version).alias("model_version"),
        F.current_timestamp().alias("scored_at"),
        "event_date",
    )


def observed(observation: Observation, wait_seconds: float = 2.0) -> dict | None:
    """The observation's metrics, or None when its DataFrame was never executed.

    `Observation.get` blocks forever in that case, and a Delta write skipped by its
    txnVersion never executes its DataFrame. The metrics are set when the action
    returns, so a short wait is only a safety margin.
    """
    future = observation._jo.future()  # no public non-blocking accessor in PySpark
    deadline = time.time() + wait_seconds
    while not future.isCompleted() and time.time() < deadline:
        time.sleep(0.01)
    return observation.get if future.isCompleted() else None


class MicroBatchSink:
    """`foreachBatch` target: validate, store, score, record statistics."""

    def __init__(self, config: Config, champion: ChampionWatcher):
        self.config = config
        self.champion = champion
        # One event-time clock, restored once per run, moved once per recorded batch, read by both.
        self.clock = EventClock.from_config(config)
        self.late_events = LateEventCounter(config, self.clock)
        self.dedup = Deduplicator(config, self.clock)
        self.backlog = BacklogGauge(config)
        self._app_id: str | None = None
        self._app_id_known = threading.Event()
        self._previous_start: float | None = None
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="delta-append")
        self._batch_lock = threading.Lock()
        self._stopping = False
        self._stats_checked = False
        self.retry = CommitRetry(config.stream.commit_retries, config.stream.commit_retry_seconds)
        self.unscored = UnscoredBackfill(config)

    def refuse_new_batches(self) -> None:
        """Wait for the running micro-batch (if any) to finish; any later batch is refused, not half-written."""
        with self._batch_lock:
            self._stopping = True

    def bind(self, query) -> None:
        """Set the Delta txnAppId: the query's id, which Spark keeps in the checkpoint; the query reports the backlog."""
        self.backlog.bind(query)
        self._app_id = str(query.id)
        self._app_id_known.set()

    def _query_id(self) -> str:
        if not self._app_id_known.wait(timeout=120):
            raise RuntimeError("the sink was never bound to its streaming query (call bind(query))")
        return self._app_id

    def _token(self, batch_id: int) -> Idempotency:
        return Idempotency(self._query_id(), batch_id)

    def _append(self, frame: DataFrame, table: str, batch_id: int) -> None:
        self.retry.run(f"batch {batch_id}: append to {table}",
                       lambda attempt: append(frame, self.config, table, self._token(batch_id)))

    def _write_scores(self, events: DataFrame, loaded, batch_id: int, app_suffix: str = "") -> tuple[int, int]:
        """Score, append to `scores`, return (rows scored, anomalies), counted while writing (no second pass)."""
        scores = scores_frame(events, self.config, loaded)
        totals = (F.count(F.lit(1)).alias("n"), F.count(F.when(F.col("is_anomaly"), 1)).alias("a"))

        def attempt(_: int) -> dict | None:
            counted = Observation("scores")  # one per attempt: an Observation can be used once
            token = self._token(batch_id).suffixed(app_suffix)
            append(scores.observe(counted, *totals), self.config, "scores", token)
            return observed(counted)

        counts = self.retry.run(f"batch {batch_id}: append to scores{app_suffix}", attempt)
        if counts is None:  # Delta skipped the write: a replay of a batch committed before a restart
            log.warning("batch %d: scores%s were already committed; counting them again for stream_stats",
                        batch_id, app_suffix)
            counts = scores.agg(*totals).first().asDict()
        return counts["n"], counts["a"]

    def _backfill(self, spark, piece, loaded, batch_id: int) -> tuple[int, int]:
        """Score the slice of events stored without a model (exactly once: its own txnAppId); (rows, anomalies)."""
        rows, anomalies = self._write_scores(self.unscored.events(spark, piece), loaded, batch_id, "-backfill")
        log.warning("batch %d: scored %d events stored earlier without a model (ingested up to %s)",
                    batch_id, rows, piece.through.isoformat())
        return rows, anomalies

    def _append_stats(self, row: DataFrame, batch_id: int) -> None:
        """Append the batch's `stream_stats` row, once per (query, batch).

        Only the first batch a run executes can be a replay of a batch cut short by a
        crash, so only then is the natural key (query_id, batch_id) looked up. This keeps
        Delta's txnVersion lookup, a full log-state reconstruction, off every later batch.
        """
        path = table_path(self.config, "stream_stats")

        def attempt(n: int) -> None:
            # A retry looks again: the failed attempt may have committed before its error.
            if not self._stats_checked or n > 0:
                self._stats_checked = True
                spark = row.sparkSession
                already = (spark.read.format("delta").load(path)
                           .filter((F.col("batch_id") == batch_id) & (F.col("query_id") == self._query_id()))
                           .limit(1).count())
                if already:
                    log.warning("batch %d: stream_stats already holds this batch (replayed after a restart)",
                                batch_id)
                    return
            append(row, self.config, "stream_stats")

        self.retry.run(f"batch {batch_id}: append to stream_stats", attempt)

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        with self._batch_lock:
            if self._stopping:
                raise BatchRefused(f"stopping: micro-batch {batch_id} is left for the next start")
            self._process(batch, batch_id)

    def _process(self, batch: DataFrame, batch_id: int) -> None:
        started = time.time()
        started_at = datetime.fromtimestamp(started, tz=timezone.utc)
        loaded = self.champion.current()
        spark = batch.sparkSession
        self.clock.restore(spark, self._query_id(), batch_id)
        # The raw text is kept only where quarantine needs it, and only its bounded prefix: the cache stays small.
        ingested = batch.withColumn(INGESTED, F.lit(started_at).cast("timestamp"))
        newest = None
        if self.config.source.event_time_bounds == "data":  # a backfill: "stale" counts from the data's own time
            newest = F.lit(self.clock.newest_time()).cast("timestamp")
        # Landing reports (a file not read, or read again) are quarantine rows with the file's path and reason.
        validated = (apply_reports(validate(ingested, self.config, ingested_at=F.col(INGESTED),
                                            newest_event_time=newest))
                     .withColumn(RECORD_BYTES, F.octet_length(RAW))
                     .withColumn(RAW, F.when(F.col(REASON).isNotNull(),
                                             stored_raw(F.col(RAW), self.config.source.max_record_bytes)))
                     .persist(StorageLevel.MEMORY_AND_DISK))
        try:
            totals = validated.agg(
                F.count(F.lit(1)).alias("rows_in"),
                F.count(F.when(F.col(REASON).isNull(), 1)).alias("rows_valid"),
                F.coalesce(F.sum(RECORD_BYTES), F.lit(0)).alias("bytes_in"),
                F.percentile_approx(F.unix_millis(ARRIVED), [0.5, 0.05]).alias("arrival_q"),
                F.min(F.unix_millis(ARRIVED)).alias("arrival_min"),
                F.max(F.unix_millis(ARRIVED)).alias("arrival_max"),
                *self.late_events.aggregates(),
                *report_aggregates(batch.columns),
            ).first()
            if totals.rows_in == 0:
                return
            self.clock.observe(totals.newest_event_micros)
            validated_at = time.time()
            valid, rejected = split_valid(validated)
            self.dedup.restore(spark)
            unique = self.dedup.drop_duplicates(valid)
            events = events_frame(unique.events, self.config)
            writes = {"events": lambda: self._append(events, "events", batch_id)}
            if totals.rows_valid < totals.rows_in:
                quarantined = quarantine_frame(rejected, batch_id)
                writes["quarantine"] = lambda: self._append(quarantined, "quarantine", batch_id)
            piece = None
            if loaded is not None:
                writes["scores"] = lambda: self._write_scores(events, loaded, batch_id)
                piece = self.unscored.next_slice(spark)
            elif totals.rows_valid:
                self.unscored.stored_without_model()
            # Independent tables commit concurrently: a Delta commit is mostly waiting, not computing.
            futures = {name: self._pool.submit(write) for name, write in writes.items()}
            results = {name: future.result() for name, future in futures.items()}
            if piece is not None:
                # After the batch's own scores committed, not beside it: the backfill reads `scores` (to skip events
                # already scored), so a concurrent append to the same partition fails it with a
                # ConcurrentAppendException.
                results["backfill"] = self._backfill(spark, piece, loaded, batch_id)
            rows_scored, anomalies = results.get("scores") or (0, 0)
            backfilled, _ = results.get("backfill") or (0, 0)  # their anomalies are in scores and alerts
            finished = time.time()
            backlog = self.backlog.measure(totals.arrival_max)
            retries = self.retry.count()
            extra = {"rows_backfilled": backfilled, "commit_retries": retries,
                     "backfilled_through": piece.through if piece is not None else None}
            self._append_stats(self._stats(batch, batch_id, started, finished, totals, unique, backlog,
                                           rows_scored, anomalies, loaded, extra), batch_id)
            self.retry.reported(retries)
            if piece is not None:
                self.unscored.finished(piece)
            self._previous_start = started
            self.clock.advance()   # before the window's advance: ids expire against the new time
            self.dedup.advance()
            log.info("batch %d: %d in, %d quarantined, %d duplicates, %d scored, %d anomalies in %.2fs "
                     "(validate %.2fs, data tables %.2fs, stats %.2fs)",
                     batch_id, totals.rows_in, totals.rows_in - totals.rows_valid, unique.duplicates, rows_scored,
                     anomalies, time.time() - started, validated_at - started, finished - validated_at,
                     time.time() - finished)
        finally:
            validated.unpersist()

    def _stats(self, batch, batch_id, started, finished, totals, unique, backlog, rows_scored, anomalies,
               loaded, extra: dict) -> DataFrame:
        duplicates = unique.duplicates
        duration = max(finished - started, 1e-6)
        since_previous = started - self._previous_start if self._previous_start else None
        finished_ms = finished * 1000.0
        p50_arrival, p05_arrival = (totals.arrival_q or [None, None])
        row = {
            "batch_id": batch_id,
            "query_id": self._query_id(),
            "started_at": datetime.fromtimestamp(started, tz=timezone.utc),
            "finished_at": datetime.fromtimestamp(finished, tz=timezone.utc),
            "duration_ms": int(duration * 1000),
            "rows_in": totals.rows_in,
            "rows_valid": totals.rows_valid - duplicates,
            "rows_quarantined": totals.rows_in - totals.rows_valid,
            "rows_duplicate": duplicates,
            "backlog": backlog,
            "rows_scored": rows_scored,
            "anomalies": anomalies,
            "anomaly_rate": anomalies / rows_scored if rows_scored else None,
            "input_rate": totals.rows_in / since_previous if since_previous else None,
            "processing_rate": totals.rows_in / duration,
            "bytes_in": int(totals.bytes_in),
            "latency_p50_ms": finished_ms - p50_arrival if p50_arrival is not None else None,
            "latency_p95_ms": finished_ms - p05_arrival if p05_arrival is not None else None,
            "latency_max_ms": finished_ms - totals.arrival_min if totals.arrival_min is not None else None,
            "model_version": loaded.version if loaded else None,
            "threshold": loaded.threshold if loaded else None,
            "model_status": self.champion.last_error,
            "files_changed": totals.files_changed,
            "files_rejected": totals.files_rejected,
            **self.late_events.stats_columns(totals, unique.times),
            **extra,
        }
        return batch.sparkSession.createDataFrame([row], schema=stream_stats_schema())
