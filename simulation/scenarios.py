"""Named scenarios over the simulated fleet: how normal behaviour changes, for the model adapting layer.

Each scenario rewrites the fleet simulator's events (and their ground truth)
as a function of event time, from its `onset` (seconds after the scenario's
start):

- `stationary`: nothing changes, and no anomaly is injected: every drift flag
  is a false one.
- `level_shift`: a new normal from the onset (a release): every device's CPU
  +30 points, latency x3 and error rate +0.02. Not anomalies: the truth says
  normal.
- `gradual_drift`: memory climbs 0.25 points a minute on every device from
  the onset, within its valid range. Normal in the truth.
- `persistent_anomaly`: one device (`dev-0000`) fails for 30 minutes from
  the onset: CPU and memory 97, temperature +35, latency x10, error rate 0.3.
  Anomalies in the truth.
- `weekly_pattern`: every Sunday 02:00-05:00 UTC the fleet's weekly backup
  runs: disk I/O x6 and network out x4. Normal in the truth.

Pure: events in, events out; the same arguments give the same events.

>>> from simulation.fleet import FleetSimulator
>>> sim = FleetSimulator(devices=3, seed=1, anomaly_rate=0.0, drift_devices=0)
>>> events, truth = sim.generate(start=1_700_000_000.0, end=1_700_003_600.0, count=200, first_seq=0)
>>> shifted, _ = SCENARIOS["level_shift"].apply(events, truth, start=1_700_000_000.0)
>>> late = pd.to_datetime(events.event_time) >= pd.Timestamp(1_700_001_800, unit="s", tz="UTC")
>>> bool((shifted.cpu_pct[late] - events.cpu_pct[late] > 20).all()), bool((shifted.cpu_pct[~late] == events.cpu_pct[~late]).all())
(True, True)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from simulation.fleet import METRICS


@dataclass(frozen=True)
class Scenario:
    """A named change of the fleet's behaviour from `onset` seconds after the start."""

    name: str
    onset: float
    change: Callable[[pd.DataFrame, np.ndarray, np.ndarray], np.ndarray | None]  # (events, seconds since onset, active) -> anomalies or None
    anomaly_kind: str | None = None

    def apply(self, events: pd.DataFrame, truth: pd.DataFrame, start: float) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The events and truth with the scenario applied (new frames; the inputs are not changed)."""
        events, truth = events.copy(), truth.copy()
        seconds = pd.to_datetime(events.event_time, utc=True).astype("int64").to_numpy() / 1e9 - start - self.onset
        active = seconds >= 0
        anomalous = self.change(events, seconds, active)
        for name, m in METRICS.items():
            if name in events:
                events[name] = np.round(np.clip(events[name], m.floor, m.ceiling), 4 if name == "error_rate" else 2)
        if self.name == "stationary":
            truth["is_anomaly"], truth["kind"] = 0, "normal"
        if anomalous is not None:
            truth.loc[anomalous, "is_anomaly"] = 1
            truth.loc[anomalous, "kind"] = self.anomaly_kind
        return events, truth


def _stationary(events, seconds, active):
    return None


def _level_shift(events, seconds, active):
    events.loc[active, "cpu_pct"] += 30.0
    events.loc[active, "latency_ms"] *= 3.0
    events.loc[active, "error_rate"] += 0.02
    return None


def _gradual_drift(events, seconds, active):
    events.loc[active, "mem_pct"] += 0.25 * seconds[active] / 60.0
    return None


def _persistent_anomaly(events, seconds, active):
    hit = active & (seconds < 1800) & (events.device_id == "dev-0000").to_numpy()
    events.loc[hit, "cpu_pct"] = events.loc[hit, "mem_pct"] = 97.0
    events.loc[hit, "temp_c"] += 35.0
    events.loc[hit, "latency_ms"] *= 10.0
    events.loc[hit, "error_rate"] = 0.3
    return hit


def _weekly_pattern(events, seconds, active):
    times = pd.to_datetime(events.event_time, utc=True)
    backup = ((times.dt.dayofweek == 6) & (times.dt.hour >= 2) & (times.dt.hour < 5)).to_numpy()
    events.loc[backup, "disk_io_mbps"] *= 6.0
    events.loc[backup, "net_out_mbps"] *= 4.0
    return None


SCENARIOS = {s.name: s for s in (
    Scenario("stationary", 0.0, _stationary),
    Scenario("level_shift", 1800.0, _level_shift),
    Scenario("gradual_drift", 1800.0, _gradual_drift),
    Scenario("persistent_anomaly", 1800.0, _persistent_anomaly, "persistent"),
    Scenario("weekly_pattern", 0.0, _weekly_pattern),
)}
