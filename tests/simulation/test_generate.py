import json
import subprocess
import sys

import pandas as pd

from conftest import ROOT
from simulation.fleet import FleetSimulator
from simulation.generate import LandingWriter, read_truth, run_generator

T0 = 1_763_683_200.0  # 2025-11-21T00:00:00Z


def landed(folder):
    return sorted(p for p in folder.iterdir() if p.suffix == ".jsonl")


def test_same_seed_same_stream(tmp_path):
    for run in ("a", "b"):
        writer = LandingWriter(tmp_path / run / "landing", tmp_path / run / "truth")
        run_generator(FleetSimulator(devices=5, seed=3), writer, rate=100, duration=30, file_seconds=10, start=T0,
                      log=lambda m: None)
    a, b = landed(tmp_path / "a" / "landing"), landed(tmp_path / "b" / "landing")
    assert [p.name for p in a] == [p.name for p in b] and len(a) == 3
    assert all(x.read_text() == y.read_text() for x, y in zip(a, b))


def test_truth_is_separate_and_covers_every_event(tmp_path):
    writer = LandingWriter(tmp_path / "landing", tmp_path / "truth")
    n = run_generator(FleetSimulator(devices=10, seed=1, anomaly_rate=0.05, burst_probability=1.0), writer,
                      rate=20, duration=900, file_seconds=60, start=T0, log=lambda m: None)
    events = [json.loads(line) for p in landed(tmp_path / "landing") for line in p.read_text().splitlines()]
    truth = read_truth(tmp_path / "truth")
    assert len(events) == n == len(truth)
    assert {e["event_id"] for e in events} == set(truth.event_id)
    assert not any(k in e for e in events for k in ("is_anomaly", "kind")), "no ground truth in the payload"
    assert set(truth.kind) >= {"normal", "point", "collective", "drift"}
    assert truth.loc[truth.kind.isin(["point", "collective"]), "is_anomaly"].eq(1).all()
    assert truth.loc[truth.kind.isin(["normal", "drift"]), "is_anomaly"].eq(0).all()
    assert not list((tmp_path / "landing").glob(".*")), "no temporary files left behind"


def test_replay_turns_a_csv_into_the_landing_stream(tmp_path):
    csv = tmp_path / "metrics.csv"
    pd.DataFrame({"ts": ["2026-01-01 00:00:02", "2026-01-01 00:00:00", "2026-01-01 00:00:01"],
                  "device_id": ["a", "b", "c"], "cpu_pct": [1.0, 2.0, 3.0]}).to_csv(csv, index=False)
    landing = tmp_path / "landing"
    result = subprocess.run([sys.executable, "-m", "simulation.generate", "--replay", str(csv), "--time-col", "ts",
                             "--speed", "0", "--landing", str(landing)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for p in landed(landing) for line in p.read_text().splitlines()]
    assert [r["device_id"] for r in rows] == ["b", "c", "a"], "replayed in time order"
    assert rows[0]["event_time"] == "2026-01-01T00:00:00.000000Z"
    assert len({r["event_id"] for r in rows}) == 3 and "ts" not in rows[0]


def test_an_unpaced_replay_lands_files_of_file_rows_rows_not_one_per_timestamp(tmp_path):
    csv = tmp_path / "series.csv"
    times = pd.date_range("2014-04-01", periods=25, freq="5min")
    pd.DataFrame({"ts": times.astype(str), "device_id": "s", "cpu_pct": range(25)}).to_csv(csv, index=False)
    landing = tmp_path / "landing"
    result = subprocess.run([sys.executable, "-m", "simulation.generate", "--replay", str(csv), "--time-col", "ts",
                             "--speed", "0", "--file-rows", "10", "--landing", str(landing)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    files = landed(landing)
    assert [len(p.read_text().splitlines()) for p in files] == [10, 10, 5]
    rows = [json.loads(line) for p in files for line in p.read_text().splitlines()]
    assert [r["cpu_pct"] for r in rows] == list(range(25)), "in event-time order"


def test_bad_arguments_give_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "simulation.generate", "--replay", str(tmp_path / "none.csv"),
                             "--time-col", "ts"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: --replay: no such file {tmp_path / 'none.csv'}"
