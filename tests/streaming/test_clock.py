"""The stream's one event-time clock: restored once per run from committed stream_stats rows, moved once per batch.

Both readers, the duplicate window and the late-event counter, see each move.
A SIGKILL of a real job: tests/streaming/test_crash_recovery.py.
"""
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from conftest import config_in
from lakehouse.catalog import ensure_tables, stream_stats_schema, table_path
from lakehouse.eventtime import MICROS, to_micros
from streaming.clock import EventClock
from streaming.dedup import Deduplicator
from streaming.feature_summary import LateEventCounter

T = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)


def at(seconds: float) -> int:
    return to_micros(T + timedelta(seconds=seconds))


def record_stats(spark, config, *rows):
    """Committed stream_stats rows: (query id, batch id, max_event_time offset in s, or None)."""
    columns = {name: 0 for name in ("duration_ms", "rows_in", "rows_valid", "rows_quarantined", "rows_scored",
                                    "anomalies", "bytes_in")}
    frame = spark.createDataFrame(
        [{**columns, "query_id": q, "batch_id": b, "started_at": T, "finished_at": T,
          "max_event_time": None if t is None else T + timedelta(seconds=t)} for q, b, t in rows],
        stream_stats_schema())
    frame.write.format("delta").mode("append").save(table_path(config, "stream_stats"))


@pytest.fixture
def config(tmp_path):
    return config_in(tmp_path / "lake")  # summaries: 1-minute windows, 2-minute watermark


def test_restored_once_per_run_from_the_batches_before_the_first_it_executes(spark, config):
    ensure_tables(spark, config)
    # An earlier query (a checkpoint since deleted), and this query's batches 0 .. 2; batch 2 committed its
    # stream_stats row before the crash, so the restarted run replays it and must decide as its first run did.
    record_stats(spark, config, ("q0", 7, 900), ("q1", 0, 100), ("q1", 1, None), ("q1", 2, 2000))
    replay = EventClock.from_config(config)
    replay.restore(spark, "q1", 2)
    assert replay.newest == at(900)
    record_stats(spark, config, ("q1", 3, 5000))
    replay.restore(spark, "q1", 3)   # the run's later batches do not read stream_stats again
    assert replay.newest == at(900)

    fresh = EventClock.from_config(config)
    fresh.restore(spark, "q1", 4)
    assert fresh.newest == at(5000)


def test_advanced_once_per_recorded_batch_never_back_and_never_by_a_failed_batch(spark, config):
    ensure_tables(spark, config)
    clock = EventClock.from_config(config)
    clock.restore(spark, "q1", 0)
    assert (clock.newest, clock.after_batch_time()) == (None, None)
    clock.observe(at(60))
    assert clock.after_batch_time() == T + timedelta(seconds=60), "the batch's stream_stats.max_event_time"
    assert clock.newest is None, "not before the batch is recorded"
    clock.advance()
    assert clock.newest == at(60)
    clock.observe(at(10))          # an older batch leaves it where it is
    clock.advance()
    assert clock.newest == at(60)
    clock.observe(at(3000))        # this batch fails: its stream_stats row never commits, advance() is not called
    clock.observe(at(90))          # the next batch
    clock.advance()
    assert clock.newest == at(90)
    clock.observe(None)            # a batch without a valid event
    clock.advance()
    assert clock.newest == at(90)


def test_the_duplicate_window_and_the_late_counter_read_the_same_clock(config):
    clock = EventClock.at(at(0))
    late, dedup = LateEventCounter(config, clock), Deduplicator(config, clock)
    times = np.array([at(-200), at(-100)])  # windows ending at -180 s and -60 s
    watermark = config.summaries.watermark_seconds * MICROS
    assert (late.count_late(times), dedup.horizon) == (1, at(0) - watermark)
    clock.observe(at(100))
    clock.advance()
    assert (late.count_late(times), dedup.horizon) == (2, at(100) - watermark)
