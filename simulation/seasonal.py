"""A seasonal scenario: keys whose normal level follows a weekly cycle, with anomalies out of place for their hour.

Each key has its own base level and amplitude: high on weekday working hours
(with a one-hour ramp either side), low at night and at weekends, plus small
noise. An anomaly is a single event at a quiet hour (night or weekend) whose
value is the key's own working-hours level (never in an hour next to a ramp): in range for the fleet and for the
key overall, so a forest fitted on raw values cannot tell it from a busy
Tuesday morning; only a model of the key's week (the seasonal baseline) or of
its recent shape (a shingled forest sees a lone spike in a flat night) can.

Anomalies are placed only after `quiet_weeks` weeks, so per-key detectors have
seen every slot of the week before they are judged. Deterministic for a seed.

>>> events = seasonal_events(keys=3, weeks=2, step_minutes=60, anomalies_per_key=2, quiet_weeks=1, seed=1)
>>> len(events), int(events["is_anomaly"].sum()), sorted(events.columns)
(1008, 6, ['event_time', 'is_anomaly', 'key', 'value'])
>>> bool(events.loc[events.is_anomaly, "value"].max() < events.loc[~events.is_anomaly, "value"].max())
True
"""
from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2026-11-02")  # a Monday
WORK_START, WORK_END, RAMP_HOURS = 8.0, 18.0, 1.0
NOISE_SHARE = 0.04  # noise sd as a share of the key's amplitude


def weekly_level(times: pd.DatetimeIndex) -> np.ndarray:
    """The normal shape of a week in [0, 1]: 1 on weekday working hours, 0 at night and at weekends, ramps between."""
    hour = times.hour + times.minute / 60
    rise = np.clip((hour - (WORK_START - RAMP_HOURS)) / RAMP_HOURS, 0, 1)
    fall = np.clip((WORK_END + RAMP_HOURS - hour) / RAMP_HOURS, 0, 1)
    return np.where(times.dayofweek < 5, np.minimum(rise, fall), 0.0)


def seasonal_events(keys: int = 20, weeks: int = 3, step_minutes: int = 15, anomalies_per_key: int = 3,
                    quiet_weeks: int = 2, seed: int = 0) -> pd.DataFrame:
    """One event per key every `step_minutes` for `weeks` weeks: key, event_time, value, is_anomaly.

    Args:
        anomalies_per_key: quiet-hour events set to the key's working-hours level, after `quiet_weeks` weeks.
    """
    if weeks <= quiet_weeks or anomalies_per_key < 0 or keys < 1 or step_minutes <= 0:
        raise ValueError("seasonal_events needs keys >= 1, step_minutes > 0, anomalies_per_key >= 0 and "
                         "weeks > quiet_weeks")
    rng = np.random.default_rng(seed)
    times = pd.date_range(START, START + pd.Timedelta(weeks=weeks), freq=f"{step_minutes}min", inclusive="left")
    shape = weekly_level(times)
    frames = []
    for k in range(keys):
        base, amplitude = rng.uniform(10, 50), rng.uniform(20, 60)
        value = base + amplitude * shape + rng.normal(0, NOISE_SHARE * amplitude, len(times))
        quiet = (times.dayofweek >= 5) | (times.hour < WORK_START - 2 * RAMP_HOURS) | (times.hour >= WORK_END + 2 * RAMP_HOURS)
        candidates = np.flatnonzero(quiet & (times >= START + pd.Timedelta(weeks=quiet_weeks)))
        chosen = rng.choice(candidates, size=min(anomalies_per_key, len(candidates)), replace=False)
        value[chosen] = base + amplitude * rng.uniform(0.8, 1.0, len(chosen))
        anomaly = np.zeros(len(times), dtype=bool)
        anomaly[chosen] = True
        frames.append(pd.DataFrame({"key": f"key-{k:03d}", "event_time": times, "value": value,
                                    "is_anomaly": anomaly}))
    return pd.concat(frames, ignore_index=True)
