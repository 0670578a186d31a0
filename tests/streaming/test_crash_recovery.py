"""Real process kills: the stream restarts from its checkpoint and loses and duplicates nothing."""
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from deltalake import DeltaTable

from conftest import DEFAULT_CONFIG, ROOT, config_in
from models import registry
from models.forest import IsolationForest
from streaming.generator import FleetSimulator, LandingWriter, read_truth, run_generator

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def workload(spark, tmp_path):
    """A lake with a champion, 24 landed files, and a config that takes 3 files per micro-batch."""
    lake = tmp_path / "lake"
    config = config_in(lake)
    events, _ = FleetSimulator(devices=10, seed=8).generate(T0 - 3600, T0, 3000, 10**9)
    model = IsolationForest(inputCols=list(config.features), numTrees=20, maxSamples=64).fit(
        spark.createDataFrame(events[list(config.features)]))
    registry.set_alias(config, registry.register_model(model, config, {"window": "test"}, {}))
    run_generator(FleetSimulator(devices=10, seed=9), LandingWriter(config.landing_path, lake / "truth"),
                  rate=10, duration=24 * 60, file_seconds=60, start=T0, log=lambda m: None)
    toml = tmp_path / "stream.toml"
    toml.write_text(DEFAULT_CONFIG.read_text().replace("max_files_per_trigger = 0", "max_files_per_trigger = 3"))
    return config, toml


def start_job(toml, lake, *extra):
    env = {**os.environ, "ISOGUARD_LAKE": str(lake)}
    return subprocess.Popen([sys.executable, "-m", "streaming.job", "--config", str(toml), *extra], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def commits(table_dir: Path) -> int:
    log = table_dir / "_delta_log"
    return len(list(log.glob("*.json"))) if log.exists() else 0


def kill_when(proc, condition, timeout=180):
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, f"the job exited early: {proc.stderr.read()[-2000:]}"
        assert time.time() < deadline, "timed out waiting for the moment to kill"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_sigkill_at_several_moments_loses_and_duplicates_nothing(workload):
    config, toml = workload
    lake = Path(config.lake_root)
    events_dir, scores_dir = lake / "events", lake / "scores"
    # 1: right after the first events commit of the run, before that batch's other writes.
    base = commits(events_dir)
    proc = start_job(toml, lake, "--available-now")
    kill_when(proc, lambda: commits(events_dir) > base + 1)
    # 2: right after a scores commit (events and scores of that batch done, stream_stats not yet).
    base = commits(scores_dir)
    proc = start_job(toml, lake, "--available-now")
    kill_when(proc, lambda: commits(scores_dir) > base + 1)
    # 3: a moment into a run, wherever it is.
    proc = start_job(toml, lake, "--available-now")
    kill_when(proc, lambda: commits(events_dir) > base + 3 and time.sleep(0.7) is None)
    # Then let it finish.
    proc = start_job(toml, lake, "--available-now")
    assert proc.wait(timeout=300) == 0, proc.stderr.read()[-2000:]

    generated = set(read_truth(lake / "truth").event_id)
    events = DeltaTable(str(events_dir)).to_pandas(columns=["event_id"])
    scores = DeltaTable(str(scores_dir)).to_pandas(columns=["event_id"])
    assert events.event_id.is_unique and set(events.event_id) == generated
    assert scores.event_id.is_unique and set(scores.event_id) == generated
    stats = DeltaTable(str(lake / "stream_stats")).to_pandas()
    assert stats.batch_id.is_unique
    assert stats.rows_in.sum() == len(generated)


def test_sigterm_finishes_the_batch_and_exits_cleanly(workload):
    config, toml = workload
    lake = Path(config.lake_root)
    proc = start_job(toml, lake)
    deadline = time.time() + 180
    while commits(lake / "stream_stats") < 2:  # table creation + one micro-batch
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)  # `kill PID` (systemd KillMode=mixed); the JVM is the job's child
    assert proc.wait(timeout=120) == 0, proc.stderr.read()[-2000:]
    stats = DeltaTable(str(lake / "stream_stats")).to_pandas()
    events = DeltaTable(str(lake / "events")).to_pandas(columns=["event_id"])
    assert stats.rows_in.sum() == len(events), "every started micro-batch was finished and recorded"
