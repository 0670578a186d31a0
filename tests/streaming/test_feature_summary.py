"""Windowed feature summaries: the statistics, the watermark, late events counted in stream_stats, replay."""
import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from conftest import config_in
from lakehouse.catalog import ensure_tables, events_schema, feature_summary_schema
from lakehouse.config import ConfigError, parse_config
from streaming.champion import ChampionWatcher
from simulation.generate import LandingWriter
from streaming.job import start_stream
from streaming.feature_summary import feature_summary, start_summaries, window_end_micros
from tests_support import default_toml_dict

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)


def with_summaries(config, **changes):
    return dataclasses.replace(config, summaries=dataclasses.replace(config.summaries, **changes))


def event_rows(config, times, devices, rng):
    """Valid events as the `events` table holds them (error_rate missing on every fifth)."""
    rows = []
    for i, (t, device) in enumerate(zip(times, devices)):
        row = {"event_id": f"e{i}", "device_id": device, "event_time": t}
        row.update({f: float(rng.normal(50, 10)) for f in config.features})
        row["error_rate"] = None if i % 5 == 0 else float(rng.uniform(0, 0.1))
        rows.append(row)
    return pd.DataFrame(rows)


def to_events_frame(spark, config, frame):
    rows = []
    for record in frame.to_dict("records"):
        row = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in record.items()}
        row["event_time"] = row["event_time"].to_pydatetime()
        rows.append(dict(row, ingested_at=T0, source_file="f", event_date=row["event_time"].date()))
    return spark.createDataFrame(rows, events_schema(config))


def nearest_rank(values, q):
    """What percentile_approx returns when it is exact: the smallest value with at least q of the values <= it."""
    return float(np.quantile(values, q, method="inverted_cdf"))


def test_window_statistics_match_numpy_overall_and_per_key(spark, lake_config):
    config = with_summaries(lake_config, per_key=True)
    rng = np.random.default_rng(3)
    times = [T0 + timedelta(seconds=float(s)) for s in rng.uniform(0, 120, 300)]   # two 1-minute windows
    frame = event_rows(config, times, rng.choice(["dev-a", "dev-b"], 300), rng)
    out = feature_summary(to_events_frame(spark, config, frame), config).toPandas()

    assert list(out.columns) == [f.name for f in feature_summary_schema(config).fields]
    assert len(out) == 2 * len(config.features) * 3     # windows x features x (all keys, dev-a, dev-b)
    frame["window_start"] = frame.event_time.map(lambda t: t.replace(second=0, microsecond=0, tzinfo=None))
    checked = 0
    for row in out.itertuples():
        group = frame[frame.window_start == row.window_start]
        if row.device_id is not None:
            group = group[group.device_id == row.device_id]
        values = group[row.feature].dropna().to_numpy()
        assert row.window_end - row.window_start == pd.Timedelta(minutes=1)
        assert row.count == len(values)
        assert row.mean == pytest.approx(values.mean())
        assert row.std == pytest.approx(values.std(ddof=1))
        assert (row.min, row.max) == (values.min(), values.max())
        assert [row.p50, row.p95, row.p99] == [nearest_rank(values, q) for q in (0.5, 0.95, 0.99)]
        assert row.window_date == row.window_start.date()
        checked += 1
    assert checked == len(out)
    error_rate_all = out[(out.feature == "error_rate") & out.device_id.isna()]
    assert error_rate_all["count"].sum() == frame.error_rate.notna().sum() < len(frame)


def test_without_per_key_there_is_one_row_per_window_and_feature(spark, lake_config):
    rng = np.random.default_rng(4)
    frame = event_rows(lake_config, [T0 + timedelta(seconds=s) for s in range(0, 180, 3)], ["dev-a", "dev-b"] * 30, rng)
    out = feature_summary(to_events_frame(spark, lake_config, frame), lake_config).toPandas()
    assert out.device_id.isna().all()
    assert len(out) == 3 * len(lake_config.features)
    assert set(out[out.feature == "cpu_pct"]["count"]) == {20}


def test_window_end_is_the_end_of_the_spark_window(spark, lake_config):
    times = [T0, T0 + timedelta(microseconds=1), T0 + timedelta(seconds=59, microseconds=999999), T0 + timedelta(hours=5)]
    frame = spark.createDataFrame([(t,) for t in times], "t timestamp")
    ours = frame.select(window_end_micros(F.col("t"), 60).alias("ours"),
                        F.unix_micros(F.window("t", "60 seconds").end).alias("spark"))
    assert all(r.ours == r.spark for r in ours.collect())


@pytest.mark.parametrize("section, key, value, message", [
    ("summaries", "window", "0 minutes", "summaries.window: expected a duration like '1 minute'"),
    ("summaries", "watermark", "soon", "summaries.watermark: expected a duration"),
    ("summaries", "per_key", "yes", "summaries.per_key: expected bool, got 'yes'"),
    ("summaries", "trigger_seconds", 0, "summaries.trigger_seconds: must be > 0, got 0"),
    ("alerts", "gap", "5 parsecs", "alerts.gap: expected a duration"),
])
def test_bad_gold_settings_give_one_line(section, key, value, message):
    data = default_toml_dict()
    data[section][key] = value
    with pytest.raises(ConfigError) as err:
        parse_config(data, environ={})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_gold_settings_read_durations():
    data = default_toml_dict()
    data["summaries"].update(window="30 seconds", watermark="0 seconds", per_key=True)
    data["alerts"]["gap"] = "1 hour"
    config = parse_config(data, environ={})
    assert (config.summaries.window_seconds, config.summaries.watermark_seconds, config.summaries.per_key) == (30, 0, True)
    assert config.alerts.gap_seconds == 3600


# ---- streaming: the real stream writes events and stream_stats; the summaries query reads them ----

def land(config, name, times, seed):
    """One landed file of valid events at the given times (one device)."""
    frame = event_rows(config, times, ["dev-a"] * len(times), np.random.default_rng(seed))
    frame["event_id"] = [f"{name}-{i}" for i in range(len(frame))]
    frame["event_time"] = frame.event_time.map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    LandingWriter(config.landing_path, None).write(name, frame)
    return frame


def run_stream(spark, config):
    champion = ChampionWatcher(config)  # no model registered: events and stream_stats only
    query = start_stream(spark, config, champion, available_now=True)
    query.awaitTermination()
    assert query.exception() is None


def run_summaries(spark, config):
    gold = start_summaries(spark, config, available_now=True)
    gold.query.awaitTermination()
    assert gold.query.exception() is None
    return gold.query


def utc(text):
    return pd.Timestamp(text, tz="UTC")


def read(config, table):
    return DeltaTable(config.lake_path(table)).to_pandas()


def test_late_events_are_left_out_of_their_window_and_counted_in_stream_stats(spark, tmp_path):
    config = config_in(tmp_path / "lake")
    ensure_tables(spark, config)
    # Batch 1: one event every 10 s for 5 minutes. The newest event time is 09:04:50, so every window
    # ending at or before 09:02:50 (watermark 2 minutes) is final.
    land(config, "a", [T0 + timedelta(seconds=s) for s in range(0, 300, 10)], seed=1)
    run_stream(spark, config)
    run_summaries(spark, config)
    # Batch 2 (a restart of the stream): 09:00:30 is late (its window ended 09:01); 09:02:30 is not
    # (its window ends 09:03, after the watermark); and newer events.
    second = land(config, "b", [T0 + timedelta(seconds=30), T0 + timedelta(seconds=150)]
                  + [T0 + timedelta(seconds=s) for s in range(300, 600, 10)], seed=2)
    LandingWriter(config.landing_path, None).write("b-again", second.iloc[[0]])  # the late event, twice
    run_stream(spark, config)
    run_summaries(spark, config)

    stats = read(config, "stream_stats").sort_values("batch_id")
    assert list(stats.rows_late) == [0, 1], "the late event's dropped copy counts as a duplicate only"
    assert list(stats.rows_duplicate) == [0, 1]
    assert list(stats.max_event_time) == [utc("2026-11-21 09:04:50"), utc("2026-11-21 09:09:50")]
    cpu = read(config, "feature_summary").query("feature == 'cpu_pct'").set_index("window_start")["count"]
    assert cpu[utc("2026-11-21 09:00")] == 6, "the late event is not in its window"
    assert cpu[utc("2026-11-21 09:02")] == 7, "the event within the watermark is"
    events = read(config, "events")
    in_final_windows = events[events.event_time < utc("2026-11-21 09:07")]   # windows ending by 09:07:50
    assert cpu.sum() == len(in_final_windows) - stats.rows_late.sum(), "every other event is summarized once"
    assert cpu.index.is_unique


def test_a_replayed_batch_writes_its_windows_once(spark, tmp_path):
    config = config_in(tmp_path / "lake")
    ensure_tables(spark, config)
    land(config, "a", [T0 + timedelta(seconds=s) for s in range(0, 600, 5)], seed=3)
    run_stream(spark, config)
    query = run_summaries(spark, config)
    before = read(config, "feature_summary")
    assert len(before) == 7 * len(config.features)    # windows 09:00 .. 09:06 are final
    # A crash after the append but before Spark recorded the batch: the batch runs again on restart.
    commits = Path(config.lake_path(config.summaries.checkpoint)) / "commits"
    last = max(commits.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1)
    last.unlink()
    (commits / f".{last.name}.crc").unlink(missing_ok=True)
    assert run_summaries(spark, config).id == query.id
    after = read(config, "feature_summary")
    assert len(after) == len(before)
    assert not after.duplicated(["window_start", "feature", "device_id"]).any()
