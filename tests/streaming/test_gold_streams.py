"""The gold streams in the real job: generated bursts -> scores -> alerts, events -> feature_summary; replay-safe."""
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from conftest import DEFAULT_CONFIG, ROOT, config_in
from models import registry
from models.forest import IsolationForest
from simulation.fleet import FleetSimulator
from simulation.generate import LandingWriter, run_generator
from streaming.job import start_gold_streams

T0 = datetime(2026, 11, 21, 14, 0, tzinfo=timezone.utc).timestamp()
MINUTES = 40


def read(config, table) -> pd.DataFrame:
    return DeltaTable(config.lake_path(table)).to_pandas()


def query_id(checkpoint: str) -> str:
    return json.loads((Path(checkpoint) / "metadata").read_text())["id"]


def txn_app_ids(config, table) -> set[str]:
    log = Path(config.lake_path(table)) / "_delta_log"
    return {json.loads(line)["txn"]["appId"] for f in log.glob("*.json")
            for line in f.read_text().splitlines() if '"txn"' in line}


@pytest.fixture(scope="module")
def gold_lake(spark, tmp_path_factory):
    """A champion, 40 minutes of a fleet with a collective burst every 10 minutes, run through `streaming.job`."""
    lake = tmp_path_factory.mktemp("gold") / "lake"
    config = config_in(lake)
    normal, _ = FleetSimulator(devices=8, seed=30, anomaly_rate=0.0, burst_probability=0.0).generate(
        T0 - 3600, T0, 4000, 10**9)
    # The axis-parallel forest these incident counts were designed with (extensionLevel 0): the tests are about
    # how anomalies group into incidents, not about the model.
    model = IsolationForest(inputCols=list(config.features), numTrees=50, maxSamples=128, extensionLevel=0,
                            seed=1).fit(spark.createDataFrame(normal[list(config.features)]))
    registry.set_alias(config, registry.register_model(model, config, {"window": "test"}, {}))
    sim = FleetSimulator(devices=8, seed=31, anomaly_rate=0.002, burst_probability=1.0, drift_devices=0)
    run_generator(sim, LandingWriter(config.landing_path, lake / "truth"), rate=8, duration=MINUTES * 60,
                  file_seconds=60, start=T0, log=lambda m: None)
    job = subprocess.run([sys.executable, "-m", "streaming.job", "--config", str(DEFAULT_CONFIG), "--available-now"],
                         cwd=ROOT, env={**os.environ, "ISOGUARD_LAKE": str(lake)}, capture_output=True, text=True,
                         timeout=600)
    assert job.returncode == 0, job.stderr[-3000:]
    return config, sim


def test_each_burst_on_a_device_is_one_alert(gold_lake):
    config, sim = gold_lake
    alerts = read(config, "alerts")
    bursts = [b for b in sim.bursts(T0, T0 + MINUTES * 60) if T0 <= b[1] and b[2] <= T0 + MINUTES * 60]
    assert len(bursts) >= 3
    for device, b0, b1 in bursts:
        start, end = (pd.Timestamp(t, unit="s", tz="UTC") for t in (b0, b1))
        on_device = alerts[alerts.device_id == sim.device_ids[device]]
        overlapping = on_device[(on_device.started_at < end) & (on_device.ended_at >= start)]
        assert len(overlapping) == 1, (device, start, end, on_device)
        assert overlapping.anomalies.iloc[0] >= 50, "the burst is one incident, not one alert per point"


def test_every_anomaly_is_in_exactly_one_incident_and_incidents_are_a_gap_apart(gold_lake):
    config, _ = gold_lake
    alerts = read(config, "alerts")
    anomalies = read(config, "scores").query("is_anomaly")
    gap = pd.Timedelta(seconds=config.alerts.gap_seconds)
    assert alerts.alert_id.is_unique
    assert alerts.anomalies.sum() == len(anomalies)
    for alert in alerts.itertuples():
        mine = anomalies[(anomalies.device_id == alert.device_id)
                         & anomalies.event_time.between(alert.started_at, alert.ended_at)]
        assert len(mine) == alert.anomalies
        assert alert.peak_score == mine.anomaly_score.max()
        assert list(alert.top_features) == list(mine.loc[mine.anomaly_score.idxmax(), "top_features"])
    for _, incidents in alerts.sort_values("started_at").groupby("device_id"):
        assert (incidents.started_at.iloc[1:].to_numpy() - incidents.ended_at.iloc[:-1].to_numpy() > gap).all()


def test_incidents_close_once_the_stream_is_a_gap_past_them(gold_lake):
    config, _ = gold_lake
    alerts = read(config, "alerts")
    newest = read(config, "scores").event_time.max()
    closed = alerts.ended_at < newest - pd.Timedelta(seconds=config.alerts.gap_seconds)
    assert closed.any() and (alerts.status == closed.map({True: "closed", False: "open"})).all()
    assert alerts.closed_at.notna().eq(closed).all()


def test_feature_summary_counts_every_event_of_every_final_window(gold_lake):
    config, _ = gold_lake
    summary = read(config, "feature_summary")
    events = read(config, "events")
    stats = read(config, "stream_stats")
    assert stats.rows_late.sum() == 0 and stats.max_event_time.max() == events.event_time.max()
    cpu = summary[summary.feature == "cpu_pct"].set_index("window_start").sort_index()
    final_until = events.event_time.max() - pd.Timedelta(seconds=config.summaries.watermark_seconds)
    expected = events[events.event_time < final_until.floor("min")].groupby(events.event_time.dt.floor("min")).size()
    assert len(expected) >= MINUTES - 3
    assert cpu["count"].to_dict() == expected.to_dict()
    assert (summary.groupby("window_start").feature.nunique() == len(config.features)).all()


def test_writes_carry_their_query_ids_and_a_replayed_batch_changes_nothing(spark, gold_lake):
    config, _ = gold_lake
    checkpoints = {"alerts": config.lake_path(config.alerts.checkpoint),
                   "feature_summary": config.lake_path(config.summaries.checkpoint)}
    for table, checkpoint in checkpoints.items():
        assert txn_app_ids(config, table) == {query_id(checkpoint)}
    before = {table: read(config, table) for table in checkpoints}
    # As after a crash between a batch's writes and Spark's record of the batch: it runs again on restart.
    for checkpoint in checkpoints.values():
        commits = Path(checkpoint) / "commits"
        last = max((p for p in commits.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        last.unlink()
        (commits / f".{last.name}.crc").unlink(missing_ok=True)
    for gold in start_gold_streams(spark, config, available_now=True):
        gold.query.awaitTermination()
        assert gold.query.exception() is None
    for table, frame in before.items():
        after = read(config, table)
        key = ["alert_id"] if table == "alerts" else ["window_start", "feature"]
        pd.testing.assert_frame_equal(after.sort_values(key).reset_index(drop=True),
                                      frame.sort_values(key).reset_index(drop=True))
