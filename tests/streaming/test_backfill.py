"""Backfills of history: a year of 5-minute data replayed through the real job is stored, scored and summarised.

The year is a NAB series (timestamp,value; two weeks of 5-minute values) tiled
over 2014-04 .. 2015-03, backfilled by `streaming.job --backfill` in bounded
micro-batches (6 files each). Then a second series (another key, two weeks
inside that year) is landed and backfilled by a second run, as a second
producer would: the watermark of feature_summary has long passed its windows,
so the stream alone leaves every one of its events out. Hourly windows keep the
test's state small (a year is 8,760). The job runs in this process, on the
tests' SparkSession, to save two JVM starts. The data's field is called
`metric`, not `value` (the raw column's name, another part of issue 11).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from deltalake import DeltaTable
from sklearn.ensemble import IsolationForest as SkIsolationForest

from conftest import ROOT
from lakehouse.config import load_config
from models import registry
from models.forest import IsolationForestModel
from streaming import job

SERIES = ROOT.parent / "shared" / "data" / "series"
TOML = """
[lake]
root = "{lake}"
[source]
max_files_per_trigger = 6
[summaries]
window = "1 hour"
watermark = "2 hours"
[schema]
event_id = "event_id"
key = "series"
event_time = "event_time"
[[schema.fields]]
name = "event_id"
type = "string"
required = true
[[schema.fields]]
name = "series"
type = "string"
required = true
[[schema.fields]]
name = "event_time"
type = "timestamp"
required = true
[[schema.fields]]
name = "metric"
type = "double"
required = true
[features]
columns = ["metric"]
[model]
num_trees = 20
max_samples = 64
"""


def nab(name: str, key: str, tiles: int) -> pd.DataFrame:
    """A NAB series as `timestamp,metric,series,event_id`, repeated `tiles` times two weeks apart."""
    raw = pd.read_csv(SERIES / name, parse_dates=["timestamp"])
    span = raw.timestamp.max() - raw.timestamp.min() + pd.Timedelta(minutes=5)
    year = pd.concat([raw.assign(timestamp=raw.timestamp + i * span) for i in range(tiles)], ignore_index=True)
    return year.rename(columns={"value": "metric"}).assign(
        series=key, event_id=[f"{key}-{i:07d}" for i in range(len(year))])


def replay(toml: Path, frame: pd.DataFrame, csv: Path, lake: Path, prefix: str) -> list[Path]:
    """Land a CSV with the generator's replay, then give its files unique names (the landing contract)."""
    frame.to_csv(csv, index=False)
    landing = lake / "landing"
    before = set(landing.glob("*.jsonl")) if landing.exists() else set()
    started = time.time()
    result = subprocess.run([sys.executable, "-m", "simulation.generate", "--config", str(toml), "--replay", str(csv),
                             "--time-col", "timestamp", "--speed", "0"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "ISOGUARD_LAKE": str(lake)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert time.time() - started < 60, "replaying 100k rows must not take long"
    landed = sorted(set(landing.glob("*.jsonl")) - before)
    renamed = []
    for path in landed:
        target = path.with_name(f"{prefix}-{path.name}")
        os.replace(path, target)
        renamed.append(target)
    return renamed


def backfill(toml: Path) -> None:
    """`streaming.job --backfill` in this process (its signal handlers restored afterwards)."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        assert job.main(["--config", str(toml), "--backfill"]) == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def test_a_year_of_history_is_stored_scored_and_summarised(spark, tmp_path, monkeypatch):
    monkeypatch.delenv("ISOGUARD_LAKE", raising=False)
    lake = tmp_path / "lake"
    toml = tmp_path / "nab.toml"
    toml.write_text(TOML.format(lake=lake))
    config = load_config(toml, environ={})
    year = nab("artificialWithAnomaly/art_daily_jumpsup.csv", "jumpsup", tiles=26)      # 2014-04-01 .. 2015-03-30
    weeks = nab("artificialNoAnomaly/art_daily_small_noise.csv", "small_noise", tiles=1)  # 2014-04-01 .. 04-14
    assert len(year) > 100_000 and weeks.timestamp.min() < year.timestamp.max() - pd.Timedelta(days=300)

    forest = SkIsolationForest(n_estimators=20, max_samples=64, random_state=1).fit(year[["metric"]].to_numpy())
    model = IsolationForestModel(forest=forest, threshold=0.6).setInputCols(["metric"])
    registry.set_alias(config, registry.register_model(model, config, {"window": "test"}, {}))

    files = replay(toml, year, tmp_path / "year.csv", lake, "a")
    assert 2 <= len(files) <= 20, f"a year of 5-minute rows lands as a handful of files, not {len(files)}"
    backfill(toml)
    replay(toml, weeks, tmp_path / "weeks.csv", lake, "b")
    backfill(toml)

    everything = pd.concat([year, weeks], ignore_index=True)
    events = DeltaTable(str(lake / "events")).to_pandas(columns=["event_id", "event_time"])
    scores = DeltaTable(str(lake / "scores")).to_pandas(columns=["event_id"])
    stats = DeltaTable(str(lake / "stream_stats")).to_pandas()
    assert events.event_id.is_unique and set(events.event_id) == set(everything.event_id), "every row stored once"
    assert scores.event_id.is_unique and set(scores.event_id) == set(everything.event_id), "every row scored once"
    assert stats.rows_quarantined.sum() == 0, "years-old events are not stale in a backfill"
    assert len(stats) >= 3, "read in bounded micro-batches"
    assert stats.rows_late.sum() >= len(weeks), "the stream's watermark had passed the second series' windows"

    summary = DeltaTable(str(lake / "feature_summary")).to_pandas()
    all_keys = summary[summary.series.isna()]
    assert not all_keys.duplicated(["window_start", "feature"]).any(), "one row per window"
    watermark = events.event_time.max() - pd.Timedelta(seconds=config.summaries.watermark_seconds)
    final = events[events.event_time.dt.floor("h") + pd.Timedelta(hours=1) <= watermark]
    expected = final.groupby(final.event_time.dt.floor("h")).size()
    assert len(expected) > 8_000
    got = all_keys.set_index("window_start")["count"]
    assert got.to_dict() == expected.to_dict(), "feature_summary covers every window, with every event"
    assert (got == 24).sum() == len(weeks) // 12, "the windows both series share count both (12 + 12 events)"
