"""Adaptation, at the model level: champion-only, online-only and both, over the named scenarios.

    python benchmarks/adaptation.py [--rate 10] [--hours 3]

Each scenario (simulation/scenarios.py) is generated for the simulated fleet
and fed in 10-second micro-batches, in event-time order, to the pure models the
stream uses: the champion (an isolation forest fitted on the scenario's first
30 minutes, threshold at the contamination quantile), the online forest
(models/online.py) and the MMD drift checks (models/drift.py). No Spark: this
measures the models' rules, not the stream's speed (the stream-level run comes
with the stream's wiring of the online model).

Serving modes: `champion` flags what the champion flags, `online` what the
online forest flags, `both` what both flag (the champion keeps a persistent
anomaly flagged; the online forest lets a new normal pass). The online forest
learns from the events its mode did not flag (models.online.admissible).

Reported per scenario and mode: the false-positive rate (flagged among events
the truth calls normal) after the onset and the minutes until it is back within
2x the target contamination for good (every later 15-minute span within it,
in 5-minute steps); recall on the
persistent anomaly, its worst 5-minute bin; the drift checks' delay from onset
to the first flag; false drift flags per simulated day on the stationary
stream.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models.drift import MMDDrift  # noqa: E402
from models.forest import fit_forest  # noqa: E402
from models.online import OnlineForest  # noqa: E402
from simulation.fleet import METRICS, FleetSimulator  # noqa: E402
from simulation.scenarios import SCENARIOS  # noqa: E402

T0 = 1_763_856_000.0  # 2025-11-23 00:00 UTC, a Sunday (the weekly pattern runs from 02:00)
FEATURES = list(METRICS)
CONTAMINATION = 0.01
BATCH_SECONDS = 10.0
BIN_MINUTES = 5


def scenario_events(name: str, rate: float, hours: float, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    sim = FleetSimulator(devices=50, seed=seed, anomaly_rate=0.002, burst_probability=0.0, drift_devices=0)
    events, truth = sim.generate(start=T0, end=T0 + hours * 3600, count=int(rate * hours * 3600), first_seq=0)
    events, truth = SCENARIOS[name].apply(events, truth, start=T0)
    events["t"] = pd.to_datetime(events.event_time, utc=True).astype("int64").to_numpy() / 1e9 - T0
    return events, truth


def run(name: str, mode: str, rate: float, hours: float) -> dict:
    events, labels = scenario_events(name, rate, hours)
    truth, persistent = labels.is_anomaly.to_numpy().astype(bool), (labels.kind == "persistent").to_numpy()
    X = events[FEATURES].to_numpy()
    warm = events.t.to_numpy() < 1800
    champion = fit_forest(X[warm & ~truth], 200, 128, 1.0, 0, 1)
    champion_scores = -champion.score_samples(X)
    champion_flags = champion_scores >= np.quantile(champion_scores[warm & ~truth], 1 - CONTAMINATION)
    online, drift = OnlineForest(contamination=CONTAMINATION, seed=1), MMDDrift(seed=1)
    state, drift_state = online.initial_state(len(FEATURES)), drift.initial_state(FEATURES)
    flags, checks = np.zeros(len(X), dtype=bool), []
    ids = events.event_id.to_numpy()
    batch_of = (events.t.to_numpy() // BATCH_SECONDS).astype(int)
    bounds = np.flatnonzero(np.diff(batch_of)) + 1
    for b, rows in enumerate(np.split(np.arange(len(X)), bounds)):
        scores = online.score(state, X[rows])
        online_flags = scores >= state.threshold if state.ready else np.zeros(len(rows), dtype=bool)
        served = {"champion": champion_flags[rows], "online": online_flags,
                  "both": champion_flags[rows] & online_flags if state.ready else champion_flags[rows]}[mode]
        flags[rows] = served
        enter = online.admissible(served)
        now = float(events.t.iloc[rows[-1]])
        state = online.update(state, X[rows][enter], ids[rows][enter], b, now=now, scores=scores)
        drift_state, check = drift.update(drift_state, X[rows][~truth[rows]], ids[rows][~truth[rows]], b,
                                          now=now)
        if check is not None:
            checks.append(check)
    return summarise(name, mode, events.t.to_numpy(), flags, truth, persistent, checks, hours)


def summarise(name, mode, t, flags, truth, persistent, checks, hours) -> dict:
    onset = SCENARIOS[name].onset
    after = t >= onset
    bins = ((t[after] - onset) // (BIN_MINUTES * 60)).astype(int)
    normal = ~truth[after]
    fp = pd.Series(flags[after][normal]).groupby(bins[normal]).mean()
    ok = fp.rolling(3, min_periods=1).mean().shift(-2).fillna(fp) <= 2 * CONTAMINATION  # 15-minute spans
    bad = np.flatnonzero(~ok.to_numpy())
    back = 0 if len(bad) == 0 else int(ok.index[bad[-1]] + 1) * BIN_MINUTES if bad[-1] + 1 < len(ok) else None
    out = {"scenario": name, "mode": mode, "fp_rate_after": float(flags[after][normal].mean()),
           "minutes_back_to_2x": back}
    if name == "persistent_anomaly":
        hit = persistent
        recall = pd.Series(flags[hit]).groupby(((t[hit] - onset) // (BIN_MINUTES * 60)).astype(int)).mean()
        out["recall_worst_bin"], out["recall"] = float(recall.min()), float(flags[hit].mean())
    flagged = [c for c in checks if c.flagged]
    if name == "gradual_drift":
        first = next((c for c in flagged if c.checked_at >= onset), None)
        out["drift_delay_min"] = None if first is None else round((first.checked_at - onset) / 60, 1)
    if name == "stationary":
        out["false_drift_flags_per_day"] = round(len(flagged) * 24 / hours, 2)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10.0, help="events per second (default 10)")
    parser.add_argument("--hours", type=float, default=3.0, help="simulated hours per scenario (default 3)")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="default: all")
    args = parser.parse_args(argv)
    rows = []
    for name in args.scenario or ["level_shift", "gradual_drift", "persistent_anomaly", "stationary",
                                  "weekly_pattern"]:
        for mode in ("champion", "online", "both"):
            started = time.time()
            rows.append({**run(name, mode, args.rate, args.hours), "seconds": round(time.time() - started, 1)})
            print(rows[-1], flush=True)
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
