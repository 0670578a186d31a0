"""Backpressure: a backlog drains in bounded micro-batches, nothing is lost, and stream_stats shows the lag."""
import dataclasses
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from deltalake import DeltaTable

from conftest import config_in
from lakehouse.catalog import ensure_tables
from streaming.champion import ChampionWatcher
from simulation.fleet import FleetSimulator
from simulation.generate import LandingWriter
from streaming.job import start_stream

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc).timestamp()
EVENTS_PER_FILE = 50


def with_source(config, **changes):
    return dataclasses.replace(config, source=dataclasses.replace(config.source, **changes))


def land_files(config, first: int, count: int) -> list[Path]:
    """`count` files of generated events, arriving in order (modification times 10 ms apart)."""
    writer, sim = LandingWriter(config.landing_path, None), FleetSimulator(devices=5, seed=3)
    paths, now = [], time.time()
    for i in range(first, first + count):
        events, _ = sim.generate(T0 + 10 * i, T0 + 10 * i + 10, EVENTS_PER_FILE, i * EVENTS_PER_FILE)
        writer.write(f"burst-{i:04d}", events)
        path = Path(config.landing_path) / f"burst-{i:04d}.jsonl"
        os.utime(path, (now + 0.01 * (i - first),) * 2)
        paths.append(path)
    return paths


def stats(config):
    return DeltaTable(config.lake_path("stream_stats")).to_pandas().sort_values("batch_id")


def events(config):
    return DeltaTable(config.lake_path("events")).to_pandas(columns=["event_id"])


def wait_for_rows(config, rows: int, query, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert query.exception() is None, query.exception()
        if stats(config).rows_in.sum() >= rows:
            return
        time.sleep(0.5)
    raise AssertionError(f"the stream did not take in {rows} rows")


def test_a_bytes_cap_splits_a_backlog_into_bounded_batches(spark, tmp_path):
    config = config_in(tmp_path / "lake")
    ensure_tables(spark, config)
    paths = land_files(config, 0, 6)
    largest = max(p.stat().st_size for p in paths)
    config = with_source(config, max_bytes_per_trigger=largest + 1)  # more than a file, less than two
    query = start_stream(spark, config, ChampionWatcher(config), available_now=True)
    query.awaitTermination()
    assert query.exception() is None
    recorded = stats(config)
    assert len(recorded) == 6 and (recorded.bytes_in <= largest).all(), "one file per micro-batch"
    assert list(recorded.backlog) == [5, 4, 3, 2, 1, 0], "the files still waiting after each batch"
    assert events(config).event_id.is_unique and len(events(config)) == 6 * EVENTS_PER_FILE


def test_a_burst_of_five_times_the_sustainable_rate_drains_and_the_backlog_rises_then_falls(spark, tmp_path):
    """Sustainable: 2 files per trigger. A burst lands 10 files at once; the stream keeps taking 2 at a time."""
    config = with_source(config_in(tmp_path / "lake", trigger_seconds=0.5), max_files_per_trigger=2)
    ensure_tables(spark, config)
    query = start_stream(spark, config, ChampionWatcher(config))
    try:
        land_files(config, 0, 2)
        wait_for_rows(config, 2 * EVENTS_PER_FILE, query)
        land_files(config, 2, 10)
        wait_for_rows(config, 12 * EVENTS_PER_FILE, query)
    finally:
        query.stop()
    recorded = stats(config)
    backlog = recorded.backlog.to_numpy()
    assert backlog[0] == 0, "before the burst the stream kept up"
    peak = int(np.argmax(backlog))
    assert backlog[peak] >= 4 and backlog[-1] == 0
    assert (np.diff(backlog[peak:]) < 0).all(), "after its peak the backlog only falls"
    assert (recorded.rows_in <= 2 * EVENTS_PER_FILE).all(), "never more than the cap in one micro-batch"
    assert events(config).event_id.is_unique and len(events(config)) == 12 * EVENTS_PER_FILE
    assert (recorded.rows_in == recorded.rows_valid).all()


def test_kafka_backlog_is_the_messages_behind_the_latest_offsets_over_all_partitions():
    from streaming.backlog import kafka_offsets_behind

    progress = {"sources": [{
        "description": "KafkaV2[Subscribe[isoguard-events]]",
        "endOffset": '{"isoguard-events":{"0":120,"1":95}}',
        "metrics": {"avgOffsetsBehindLatest": "40.0", "maxOffsetsBehindLatest": "50", "minOffsetsBehindLatest": "30"},
    }]}
    assert kafka_offsets_behind(progress) == 80
    assert kafka_offsets_behind({"sources": [{"description": "FileStreamSource", "metrics": {}}]}) is None
    assert kafka_offsets_behind(None) is None
