"""Helpers shared by tests (importable because pytest puts tests/ on the path via conftest's rootdir)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def default_toml_dict() -> dict:
    with open(ROOT / "conf" / "default.toml", "rb") as fh:
        return tomllib.load(fh)


def register_test_champion(spark, config, before: float) -> None:
    """A small champion in the config's MLflow store, trained on an hour of fleet data before `before`."""
    from models import registry
    from models.forest import IsolationForest
    from simulation.fleet import FleetSimulator

    events, _ = FleetSimulator(devices=10, seed=8).generate(before - 3600, before, 3000, 10**9)
    model = IsolationForest(inputCols=list(config.features), numTrees=20, maxSamples=64).fit(
        spark.createDataFrame(events[list(config.features)]))
    registry.set_alias(config, registry.register_model(model, config, {"window": "test"}, {}))


def start_job(toml: Path, lake: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    """The streaming job as its own process (its own JVM), so that tests can really kill it."""
    environ = {**os.environ, "ISOGUARD_LAKE": str(lake), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "streaming.job", "--config", str(toml), *extra], cwd=ROOT,
                            env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def commits(table_dir: Path) -> int:
    log = table_dir / "_delta_log"
    return len(list(log.glob("*.json"))) if log.exists() else 0


def kill_when(proc: subprocess.Popen, condition, timeout: float = 600) -> str:
    """SIGKILL the job's whole process group once `condition()` holds; returns what it wrote to stderr."""
    deadline = time.time() + timeout
    try:
        while not condition():
            assert proc.poll() is None, f"the job exited early: {proc.stderr.read()[-2000:]}"
            assert time.time() < deadline, "timed out waiting for the moment to kill"
            time.sleep(0.02)
    finally:  # also when the wait failed: no job is left running
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.stderr.read()


def finish_job(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    """Wait for the job to end by itself; (exit code, stderr). Killed if it overruns."""
    try:
        _, log = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, log = proc.communicate()
        raise AssertionError(f"the job did not finish in {timeout}s: {log[-2000:]}") from None
    return proc.returncode, log


def assert_each_event_once(lake: Path, generated: set[str]) -> None:
    """Every generated event exactly once in `events` and in `scores`; `stream_stats` counts every row in once:
    in events, quarantined or dropped as a duplicate."""
    from deltalake import DeltaTable

    events = DeltaTable(str(lake / "events")).to_pandas(columns=["event_id"])
    scores = DeltaTable(str(lake / "scores")).to_pandas(columns=["event_id"])
    assert events.event_id.is_unique and set(events.event_id) == generated
    assert scores.event_id.is_unique and set(scores.event_id) == generated
    quarantined = len(DeltaTable(str(lake / "quarantine")).to_pandas(columns=["raw"])) if commits(lake / "quarantine") else 0
    stats = DeltaTable(str(lake / "stream_stats")).to_pandas()
    assert stats.batch_id.is_unique
    duplicates = stats.rows_duplicate.fillna(0)
    assert (stats.rows_in == stats.rows_valid + stats.rows_quarantined + duplicates).all()
    assert stats.rows_in.sum() == len(events) + quarantined + duplicates.sum()
