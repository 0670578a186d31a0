"""MLflow outages against a real `mlflow server` on loopback: the stream starts at once, flags the outage within
one champion check, and scores the events it stored without a model once a model is there.

No MLFLOW_HTTP_REQUEST_* variables are set here: the defaults (urllib3 retries
for about four minutes) are what a user gets.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import time
from datetime import datetime, timezone

import pytest
from deltalake import DeltaTable

from conftest import config_in
from streaming.champion import ChampionWatcher
from simulation.fleet import FleetSimulator
from simulation.generate import LandingWriter, run_generator
from streaming.job import start_stream
from mlflow_server import MlflowServer, register_champion, wait_for

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc).timestamp()




@pytest.fixture
def mlflow_server(tmp_path, monkeypatch):
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    server = MlflowServer(tmp_path / "mlflow")  # not started: its port refuses connections
    yield server
    if server.process and server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGCONT)
        server.stop()


def outage_config(tmp_path, server, **stream):
    config = config_in(tmp_path / "lake", **stream)
    return dataclasses.replace(config, mlflow_tracking_uri=server.uri)


def test_mlflow_down_mid_stream_is_flagged_within_one_check(tmp_path, mlflow_server):
    """Hung (SIGSTOP: connections accepted, never answered), back, then stopped (connections refused)."""
    config = outage_config(tmp_path, mlflow_server, model_refresh_seconds=2.0, model_poll_timeout_seconds=2.0)
    mlflow_server.start()
    version = register_champion(config, seed=1)
    watcher = ChampionWatcher(config).start()
    pid = mlflow_server.process.pid
    try:
        assert watcher.current().version == version and watcher.last_error is None
        for outage in ("hung", "stopped"):
            if outage == "hung":
                os.killpg(pid, signal.SIGSTOP)
            else:
                mlflow_server.stop()
            down = time.time()
            wait_for(lambda: watcher.last_error is not None, timeout=60, what=f"the {outage} MLflow to be flagged")
            flagged_after = time.time() - down
            # One poll interval until the next check, plus that check's timeout (and a margin for a busy machine).
            assert flagged_after < 2.0 + 2.0 + 6.0, f"{outage}: flagged after {flagged_after:.1f} s"
            assert watcher.last_error.startswith("could not check the champion model")
            assert watcher.current().version == version, "the stream keeps scoring with the model it has"
            if outage == "hung":
                os.killpg(pid, signal.SIGCONT)
                wait_for(lambda: watcher.last_error is None, timeout=60, what="the flag to clear once MLflow answers")
    finally:
        watcher.stop()
        if mlflow_server.process.poll() is None:
            os.killpg(pid, signal.SIGCONT)


def test_mlflow_down_at_start_the_stream_starts_and_scores_the_backlog_once_a_model_exists(
        spark, tmp_path, mlflow_server):
    config = outage_config(tmp_path, mlflow_server, trigger_seconds=0.5, model_refresh_seconds=1.0)
    writer = LandingWriter(config.landing_path, None)
    sim = FleetSimulator(devices=5, seed=41)
    before = run_generator(sim, writer, rate=2, duration=600, file_seconds=60, start=T0, log=lambda m: None)

    started = time.time()
    champion = ChampionWatcher(config).start()
    query = start_stream(spark, config, champion)
    try:
        assert time.time() - started < 60, "MLflow being down does not hold the stream's start"
        assert champion.current() is None and champion.last_error.startswith("could not check the champion model")
        query.processAllAvailable()
        stats = DeltaTable(config.lake_path("stream_stats")).to_pandas()
        assert stats.rows_valid.sum() == before and stats.rows_scored.sum() == 0 and stats.model_version.isna().all()

        mlflow_server.start()
        version = register_champion(config, seed=2)
        wait_for(lambda: champion.current() is not None, timeout=120, what="the champion once MLflow is back")
        after = run_generator(sim, writer, rate=2, duration=120, file_seconds=60, start=T0 + 600,
                              log=lambda m: None, first_seq=before)
        query.processAllAvailable()
        assert query.isActive
    finally:
        query.stop()
        champion.stop()

    events = DeltaTable(config.lake_path("events")).to_pandas(columns=["event_id"])
    scores = DeltaTable(config.lake_path("scores")).to_pandas(columns=["event_id", "model_version"])
    stats = DeltaTable(config.lake_path("stream_stats")).to_pandas()
    assert len(events) == before + after and events.event_id.is_unique
    assert scores.event_id.is_unique, "nothing scored twice"
    assert set(scores.event_id) == set(events.event_id), "every stored event is scored, also those from the outage"
    assert (scores.model_version == version).all()
    assert stats.rows_backfilled.sum() == before, "the backfill is visible in stream_stats"
    assert stats.backfilled_through.notna().sum() >= 1
    assert stats.rows_scored.sum() == after
