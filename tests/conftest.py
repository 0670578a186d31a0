"""Shared fixtures: one real local SparkSession (with Delta) for the whole run, and temp lakes."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lakehouse.config import Config, load_config
from lakehouse.session import build_spark

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "conf" / "default.toml"
LABELED = ROOT.parent / "shared" / "data" / "labeled"


@pytest.fixture(scope="session")
def spark():
    session = build_spark("isoguard-tests", master="local[2]", jar_groups=("delta", "kafka"), conf={
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
    })
    yield session
    session.stop()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    """A real single-node Kafka broker (KRaft) on loopback ports, shared by the Kafka tests."""
    from kafka_broker import KafkaBroker

    broker = KafkaBroker(tmp_path_factory.mktemp("kafka")).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def default_config() -> Config:
    return load_config(DEFAULT_CONFIG, environ={})


def config_in(lake: Path, **stream_overrides) -> Config:
    """The default config with its lake (and so its MLflow store) under `lake`."""
    config = load_config(DEFAULT_CONFIG, environ={}).with_lake(str(lake))
    if stream_overrides:
        config = dataclasses.replace(config, stream=dataclasses.replace(config.stream, **stream_overrides))
    return config


@pytest.fixture
def lake_config(tmp_path) -> Config:
    return config_in(tmp_path / "lake")


MALFORMED_LINES = [
    '{"event_id": "bad-1", "device_id": ',                     # truncated
    "definitely not json",
    '{"event_id": "bad-3", "device_id": "dev-1", "event_time": "2026-11-21T00:30:00Z", "cpu_pct": "high"}',
]


@pytest.fixture(scope="session")
def pipeline(spark, tmp_path_factory):
    """The whole path once, for real: generator -> stream -> retrain -> stream with the champion.

    Phase 1 lands 10 simulated minutes before any model exists; the retrain then
    registers the first champion, which the running stream picks up without a
    restart; phase 2 lands 10 more minutes plus a few malformed lines.
    """
    import time
    from datetime import datetime, timezone

    from batch.retrain import retrain
    from models import registry
    from streaming.champion import ChampionWatcher
    from simulation.fleet import FleetSimulator
    from simulation.generate import LandingWriter, read_truth, run_generator
    from streaming.job import start_stream

    lake = tmp_path_factory.mktemp("pipeline") / "lake"
    config = config_in(lake, model_refresh_seconds=0.5, trigger_seconds=0.5)
    t0 = datetime(2026, 11, 21, 0, 0, tzinfo=timezone.utc).timestamp()
    sim = FleetSimulator(devices=20, seed=11, anomaly_rate=0.01, burst_probability=1.0, drift_start=t0)
    truth_dir = lake / "truth"
    writer = LandingWriter(config.landing_path, truth_dir)
    phase1 = run_generator(sim, writer, rate=40, duration=600, file_seconds=60, start=t0, log=lambda m: None)

    champion = ChampionWatcher(config).start()
    query = start_stream(spark, config, champion)
    try:
        query.processAllAvailable()
        phase1_truth = read_truth(truth_dir)
        result = retrain(spark, config, day=None)
        deadline = time.time() + 60
        while champion.current() is None and time.time() < deadline:
            time.sleep(0.2)
        assert champion.current() is not None, "the stream never picked up the champion"
        run_generator(sim, writer, rate=40, duration=600, file_seconds=60, start=t0 + 600, log=lambda m: None,
                      first_seq=phase1)
        (Path(config.landing_path) / "malformed.jsonl").write_text("\n".join(MALFORMED_LINES) + "\n")
        query.processAllAvailable()
        still_running = query.isActive
    finally:
        query.stop()
        champion.stop()
    truth = read_truth(truth_dir)
    phase2_ids = set(truth.event_id) - set(phase1_truth.event_id)
    yield {
        "config": config, "truth": truth, "phase2_ids": phase2_ids, "retrain": result,
        "still_running": still_running, "champion_version": registry.alias_version(config),
    }
