"""A Delta log that is briefly unwritable does not end the stream: the append is retried, counted, and exactly once.

The tests run as root, for whom `chmod` blocks nothing. The events table's
`_delta_log` directory is made immutable instead (`chattr +i`, ext4's
immutable attribute: no file can be created in it, by root either), so the
first micro-batch's commit fails with a real I/O error from the file system;
the flag is lifted a few seconds into the retries.
"""
from __future__ import annotations

import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from deltalake import DeltaTable

from conftest import config_in
from lakehouse.catalog import ensure_tables
from streaming.champion import ChampionWatcher
from simulation.fleet import FleetSimulator
from simulation.generate import LandingWriter, run_generator
from streaming.job import start_stream
from streaming.sink import MicroBatchSink

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc).timestamp()


def immutable(path: Path, on: bool) -> None:
    subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True, capture_output=True)


@pytest.fixture
def blockable(tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        immutable(probe, True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("chattr +i is not available on this file system")
    try:
        blocked = True
        try:
            (probe / "x").write_text("x")
            blocked = False
        except OSError:
            pass
    finally:
        immutable(probe, False)
    if not blocked:
        pytest.skip("an immutable directory does not block this user")


def test_a_briefly_unwritable_delta_log_is_retried_and_every_event_stored_once(spark, tmp_path, blockable):
    config = config_in(tmp_path / "lake", trigger_seconds=0.5, commit_retries=5, commit_retry_seconds=1.0)
    ensure_tables(spark, config)
    n = run_generator(FleetSimulator(devices=5, seed=21), LandingWriter(config.landing_path, None), rate=2,
                      duration=300, file_seconds=60, start=T0, log=lambda m: None)
    log_dir = Path(config.lake_path("events")) / "_delta_log"
    events_commits = len(list(log_dir.glob("*.json")))
    champion = ChampionWatcher(config).start()
    sink = MicroBatchSink(config, champion)
    immutable(log_dir, True)
    released = threading.Event()

    def release_after_retries():
        deadline = time.time() + 300
        while sink.retry.count() < 2 and time.time() < deadline:  # the commit failed twice: storage is "down"
            time.sleep(0.1)
        immutable(log_dir, False)
        released.set()

    releaser = threading.Thread(target=release_after_retries, daemon=True)
    releaser.start()
    query = start_stream(spark, config, champion, sink=sink)
    try:
        releaser.join(timeout=320)
        assert released.is_set()
        query.processAllAvailable()
        assert query.isActive and query.exception() is None, "the stream outlived the storage error"
    finally:
        immutable(log_dir, False)
        query.stop()
        champion.stop()

    events = DeltaTable(config.lake_path("events")).to_pandas(columns=["event_id"])
    stats = DeltaTable(config.lake_path("stream_stats")).to_pandas()
    assert len(events) == n and events.event_id.is_unique, "every event stored, none twice"
    assert len(list(log_dir.glob("*.json"))) > events_commits
    assert stats.commit_retries.sum() >= 2, "the retries are counted in stream_stats"
    assert (stats.rows_in == stats.rows_valid + stats.rows_quarantined + stats.rows_duplicate.fillna(0)).all()
    assert stats.rows_in.sum() == n


def test_storage_that_stays_unwritable_ends_the_stream_after_the_retries(spark, tmp_path, blockable):
    config = config_in(tmp_path / "lake", trigger_seconds=0.5, commit_retries=2, commit_retry_seconds=0.5)
    ensure_tables(spark, config)
    run_generator(FleetSimulator(devices=2, seed=22), LandingWriter(config.landing_path, None), rate=1,
                  duration=60, file_seconds=60, start=T0, log=lambda m: None)
    log_dir = Path(config.lake_path("events")) / "_delta_log"
    champion = ChampionWatcher(config).start()
    sink = MicroBatchSink(config, champion)
    immutable(log_dir, True)
    query = start_stream(spark, config, champion, sink=sink)
    try:
        with pytest.raises(Exception):
            query.processAllAvailable()
        assert sink.retry.count() == 2, "gave up after commit_retries retries"
        assert not query.isActive
    finally:
        immutable(log_dir, False)
        query.stop()
        champion.stop()
    assert len(DeltaTable(config.lake_path("events")).to_pandas(columns=["event_id"])) == 0
