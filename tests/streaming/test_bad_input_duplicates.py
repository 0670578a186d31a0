"""Duplicate event ids: dropped within the watermark and counted, the same way after a crash and restart.

Real SIGKILLs of a job reading duplicates: tests/streaming/test_crash_recovery.py.
"""
import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest
from pyspark.sql import functions as F

from conftest import config_in
from features.validation import split_valid, validate
from lakehouse.catalog import ensure_tables, stream_stats_schema, table_path
from lakehouse.columns import ARRIVED, INGESTED, RAW, SOURCE
from streaming.clock import EventClock
from streaming.dedup import Deduplicator
from streaming.sink import events_frame

T = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
FIELDS = {"device_id": "dev-1", "cpu_pct": 40.0, "mem_pct": 50.0, "temp_c": 45.0, "disk_io_mbps": 10.0,
          "net_in_mbps": 100.0, "net_out_mbps": 50.0, "latency_ms": 20.0}


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def batch(spark, config, *rows):
    """Valid rows as the sink sees them; each row is (event id, event time offset s, source file, arrival offset s)."""
    lines = [(json.dumps({"event_id": eid, "event_time": at(t).isoformat(), **FIELDS, "cpu_pct": float(i)}),
              source, at(arrived), at(600)) for i, (eid, t, source, arrived) in enumerate(rows)]
    raw = spark.createDataFrame(lines, f"{RAW} string, {SOURCE} string, {ARRIVED} timestamp, {INGESTED} timestamp")
    valid, rejected = split_valid(validate(raw, config, F.col(INGESTED)))
    assert rejected.count() == 0
    return valid


def kept(result):
    return sorted((r.event_id, r.source_file) for r in result.events.select("event_id", F.col(SOURCE).alias("source_file")).collect())


def deduplicator(config):
    """A duplicate window on its own event clock, as the sink builds them."""
    return Deduplicator(config, EventClock.from_config(config))


def recorded(dedup, valid):
    """What the sink does once a batch is recorded: the clock moves to its newest valid time, the window takes its ids."""
    dedup.clock.observe(valid.agg(F.unix_micros(F.max("event_time"))).first()[0])
    dedup.clock.advance()
    dedup.advance()


@pytest.fixture
def config(tmp_path):
    return config_in(tmp_path / "lake")  # summaries.watermark: 2 minutes


def test_within_a_batch_the_first_arrival_is_kept(spark, config):
    dedup = deduplicator(config)
    result = dedup.drop_duplicates(batch(spark, config, ("a", 0, "f2", 2), ("a", 0, "f1", 1), ("b", 1, "f2", 2),
                                         ("a", 5, "f3", 3)))
    assert kept(result) == [("a", "f1"), ("b", "f2")]
    assert result.duplicates == 2


def test_ids_seen_within_the_watermark_are_dropped_and_later_ones_kept(spark, config):
    dedup = deduplicator(config)
    batches = [batch(spark, config, ("a", 0, "f1", 0), ("b", 10, "f1", 0)),
               batch(spark, config, ("a", 30, "f2", 1), ("b", 500, "f2", 1), ("c", 20, "f2", 1))]
    first = dedup.drop_duplicates(batches[0])
    assert first.duplicates == 0
    recorded(dedup, batches[0])
    # Within the watermark of the clock (10 s): both repeats are duplicates, whatever their own event time.
    second = dedup.drop_duplicates(batches[1])
    assert (kept(second), second.duplicates) == ([("c", "f2")], 2)
    recorded(dedup, batches[1])
    # The clock is now 500 s (b's repeat moved it): a at 0 s and c at 20 s are more than 2 minutes behind.
    third = dedup.drop_duplicates(batch(spark, config, ("a", 501, "f3", 2), ("c", 502, "f3", 2)))
    assert (kept(third), third.duplicates) == ([("a", "f3"), ("c", "f3")], 0)


def test_deduplication_can_be_turned_off(spark, config):
    off = dataclasses.replace(config, stream=dataclasses.replace(config.stream, deduplicate=False))
    dedup = deduplicator(off)
    result = dedup.drop_duplicates(batch(spark, off, ("a", 0, "f1", 0), ("a", 0, "f2", 0)))
    assert (len(kept(result)), result.duplicates) == (2, 0)


def store(spark, config, query_id, batch_id, valid, stats: bool):
    """What the sink commits for a batch: its events, and (unless the crash came first) its stream_stats row."""
    frame = events_frame(valid, config)
    frame.write.format("delta").mode("append").save(table_path(config, "events"))
    if stats:
        newest = valid.agg(F.max(config.schema.event_time)).first()[0]
        previous = spark.read.format("delta").load(table_path(config, "stream_stats")).agg(F.max("max_event_time")).first()[0]
        row = {name: 0 for name in ("batch_id", "duration_ms", "rows_in", "rows_valid", "rows_quarantined",
                                    "rows_scored", "anomalies", "bytes_in")}
        row.update(batch_id=batch_id, query_id=query_id, started_at=T, finished_at=T,
                   max_event_time=max(t for t in (newest, previous) if t is not None))
        spark.createDataFrame([row], stream_stats_schema()).write.format("delta").mode("append").save(
            table_path(config, "stream_stats"))


@pytest.mark.parametrize("stats_committed", [False, True], ids=["crash-before-stats", "crash-after-stats"])
def test_a_replayed_batch_decides_as_its_first_run_did(spark, config, stats_committed):
    """Batch 1 committed its events, then the job died; the restarted job replays batch 1 with a rebuilt window."""
    ensure_tables(spark, config)
    batch0 = batch(spark, config, ("a", 0, "f1", 0), ("b", 5, "f1", 0), ("old", -300, "f1", 0))
    batch1 = batch(spark, config, ("b", 40, "f3", 3), ("c", 50, "f2", 2), ("c", 50, "f3", 3), ("d", 60, "f3", 3),
                   ("old", 61, "f3", 3))
    # The first run: batch 0, then batch 1, in one process.
    first_run = deduplicator(config)
    store(spark, config, "q1", 0, first_run.drop_duplicates(batch0).events, stats=True)
    recorded(first_run, batch0)
    before_crash = first_run.drop_duplicates(batch1)
    store(spark, config, "q1", 1, before_crash.events, stats=stats_committed)
    assert (kept(before_crash), before_crash.duplicates) == ([("c", "f2"), ("d", "f3"), ("old", "f3")], 2)

    restarted = deduplicator(config)
    restarted.clock.restore(spark, "q1", 1)
    restarted.restore(spark)
    replay = restarted.drop_duplicates(batch1)
    assert (kept(replay), replay.duplicates) == (kept(before_crash), before_crash.duplicates)
    recorded(restarted, batch1)
    recorded(first_run, batch1)
    assert restarted.clock.newest == first_run.clock.newest
