"""A synthetic fleet of machines: pure event generation, (time range, count) -> events and their ground truth.

Each device has its own baseline per metric, a daily cycle and noise. Injected:
point anomalies (one to three metrics jump to extreme values), collective
anomalies (bursts of several minutes on one device) and a slow temperature
drift on a few devices. Seeded and reproducible: the same seed and arguments
give the same events. simulation/generate.py lands them as files or produces
them to Kafka.

>>> sim = FleetSimulator(devices=3, seed=1)
>>> events, truth = sim.generate(start=1_700_000_000.0, end=1_700_000_010.0, count=5, first_seq=0)
>>> len(events), list(truth.columns)
(5, ['event_id', 'is_anomaly', 'kind'])
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lakehouse.cli import UsageError

DAY = 86400.0


@dataclass(frozen=True)
class Metric:
    """Baseline range, noise, daily amplitude and valid range of one metric."""
    low: float
    high: float
    noise: float
    daily: float
    floor: float
    ceiling: float


METRICS = {
    "cpu_pct": Metric(15, 55, 4.0, 10.0, 0, 100),
    "mem_pct": Metric(30, 70, 2.0, 3.0, 0, 100),
    "temp_c": Metric(35, 55, 1.5, 4.0, -40, 150),
    "disk_io_mbps": Metric(20, 200, 10.0, 20.0, 0, 10000),
    "net_in_mbps": Metric(50, 500, 20.0, 50.0, 0, 100000),
    "net_out_mbps": Metric(20, 300, 15.0, 30.0, 0, 100000),
    "latency_ms": Metric(5, 50, 3.0, 5.0, 0, 600000),
    "error_rate": Metric(0.001, 0.01, 0.001, 0.0, 0, 1),
}

BURST_BUCKET_SECONDS = 600.0   # at most one collective burst per device group per 10 minutes
DRIFT_PER_HOUR = 0.5           # degrees C per hour on drifting devices


class FleetSimulator:
    """Pure event generation: (time range, count) -> events and their ground truth."""

    def __init__(self, devices: int = 50, seed: int = 42, anomaly_rate: float = 0.002,
                 burst_probability: float = 0.5, drift_devices: int = 2, drift_start: float = 0.0):
        if devices < 1:
            raise UsageError("--devices must be at least 1")
        if not 0 <= anomaly_rate < 1:
            raise UsageError("--anomaly-rate must be in [0, 1)")
        self.devices, self.seed, self.anomaly_rate = devices, seed, anomaly_rate
        self.burst_probability, self.drift_start = burst_probability, drift_start
        self.drift_devices = min(drift_devices, devices)
        rng = np.random.default_rng(seed)
        self.device_ids = np.array([f"dev-{i:04d}" for i in range(devices)])
        self.baseline = {name: rng.uniform(m.low, m.high, devices) for name, m in METRICS.items()}
        self.phase = rng.uniform(0, DAY, devices)

    def bursts(self, start: float, end: float) -> list[tuple[int, float, float]]:
        """(device, burst start, burst end) of every collective anomaly overlapping [start, end)."""
        found = []
        for bucket in range(int(start // BURST_BUCKET_SECONDS) - 1, int(end // BURST_BUCKET_SECONDS) + 1):
            rng = np.random.default_rng([self.seed, 7, bucket])
            if rng.random() >= self.burst_probability:
                continue
            device = int(rng.integers(self.devices))
            b0 = bucket * BURST_BUCKET_SECONDS + rng.uniform(0, BURST_BUCKET_SECONDS / 2)
            b1 = b0 + rng.uniform(120, 300)
            if b0 < end and b1 > start:
                found.append((device, b0, b1))
        return found

    def generate(self, start: float, end: float, count: int, first_seq: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """`count` events with times uniform in [start, end) (epoch seconds)."""
        rng = np.random.default_rng([self.seed, first_seq])
        t = np.sort(rng.uniform(start, end, count))
        dev = rng.integers(self.devices, size=count)
        cols: dict[str, np.ndarray] = {}
        for name, m in METRICS.items():
            daily = m.daily * np.sin(2 * np.pi * (t + self.phase[dev]) / DAY)
            cols[name] = self.baseline[name][dev] + daily + rng.normal(0, m.noise, count)
        drifting = dev < self.drift_devices
        cols["temp_c"] = cols["temp_c"] + drifting * np.maximum(t - self.drift_start, 0) / 3600.0 * DRIFT_PER_HOUR

        kind = np.where(drifting, "drift", "normal").astype(object)
        point = rng.random(count) < self.anomaly_rate
        for i in np.flatnonzero(point):
            for name in rng.choice(list(METRICS), size=rng.integers(1, 4), replace=False):
                cols[name][i] = _extreme(name, cols[name][i], rng)
        kind[point] = "point"
        for device, b0, b1 in self.bursts(start, end):
            hit = (dev == device) & (t >= b0) & (t < b1) & ~point
            cols["cpu_pct"][hit] += 35
            cols["latency_ms"][hit] *= 6
            cols["error_rate"][hit] += 0.1
            kind[hit] = "collective"
        for name, m in METRICS.items():
            cols[name] = np.round(np.clip(cols[name], m.floor, m.ceiling), 4 if name == "error_rate" else 2)

        ids = np.char.add(f"g{self.seed}-", np.char.zfill(np.arange(first_seq, first_seq + count).astype(str), 12))
        times = np.char.add(np.datetime_as_string((t * 1000).astype("datetime64[ms]"), unit="ms"), "Z")
        events = pd.DataFrame({"event_id": ids, "device_id": self.device_ids[dev], "event_time": times, **cols})
        truth = pd.DataFrame({"event_id": ids, "is_anomaly": np.isin(kind, ["point", "collective"]).astype(int),
                              "kind": kind})
        return events, truth


def _extreme(name: str, value: float, rng: np.random.Generator) -> float:
    m = METRICS[name]
    if name in ("cpu_pct", "mem_pct"):
        return rng.uniform(96, 100)
    if name == "temp_c":
        return value + rng.uniform(30, 50)
    if name == "error_rate":
        return rng.uniform(0.2, 0.6)
    return value * rng.uniform(8, 20) + m.noise * 10


def to_json_lines(events: pd.DataFrame) -> str:
    return events.to_json(orient="records", lines=True, double_precision=6)
