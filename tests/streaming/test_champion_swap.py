"""The running stream follows MLflow's champion alias: swaps without a restart, refuses a mismatched model."""
import time
from datetime import datetime, timezone

import pandas as pd
from deltalake import DeltaTable

from conftest import config_in
from models import registry
from models.forest import IsolationForest
from streaming.champion import ChampionWatcher
from simulation.fleet import FleetSimulator
from simulation.generate import LandingWriter, run_generator
from streaming.job import start_stream

T0 = datetime(2026, 11, 21, 6, 0, tzinfo=timezone.utc).timestamp()


def fit_and_register(spark, config, features, seed):
    sim = FleetSimulator(devices=10, seed=5)
    events, _ = sim.generate(T0 - 3600, T0, 3000, 10**9 + seed)
    model = IsolationForest(inputCols=list(features), numTrees=20, maxSamples=64, seed=seed).fit(
        spark.createDataFrame(events[list(features)]))
    version = registry.register_model(model, config, {"window": f"test {seed}"}, {registry.METRIC_TRAINING_ROWS: 3000})
    registry.set_alias(config, version)
    return version


def wait_for(condition, timeout=60):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)


def test_swap_and_refusal_in_a_running_stream(spark, tmp_path):
    config = config_in(tmp_path / "lake", model_refresh_seconds=0.3, trigger_seconds=0.5)
    sim = FleetSimulator(devices=10, seed=6)
    writer = LandingWriter(config.landing_path, tmp_path / "lake" / "truth")
    seq = 0

    def land(start):
        nonlocal seq
        seq += run_generator(sim, writer, rate=20, duration=60, file_seconds=60, start=start, log=lambda m: None,
                             first_seq=seq)

    v1 = fit_and_register(spark, config, config.features, seed=1)
    champion = ChampionWatcher(config).start()
    query = start_stream(spark, config, champion)
    try:
        land(T0)
        query.processAllAvailable()
        v2 = fit_and_register(spark, config, config.features, seed=2)
        wait_for(lambda: champion.current().version == v2)
        land(T0 + 60)
        query.processAllAvailable()
        v3 = fit_and_register(spark, config, config.features[:-1], seed=3)  # one feature short
        wait_for(lambda: champion.last_error is not None)
        land(T0 + 120)
        query.processAllAvailable()
        assert query.isActive
    finally:
        query.stop()
        champion.stop()

    scores = DeltaTable(config.lake_path("scores")).to_pandas()
    minute = (scores.event_time - pd.Timestamp(T0, unit="s", tz="UTC")).dt.total_seconds() // 60
    by_minute = scores.groupby(minute).model_version.unique().map(list).to_dict()
    assert by_minute == {0: [v1], 1: [v2], 2: [v2]}, "v3 was refused, so v2 kept scoring"
    stats = DeltaTable(config.lake_path("stream_stats")).to_pandas().sort_values("batch_id")
    assert stats.model_status.iloc[-1].startswith(f"model version {v3} refused: features")
    assert stats.model_status.iloc[0] is None
