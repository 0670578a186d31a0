"""Per-key series features: shingles across micro-batches, time features, standardisation, differences, selection.

One code path for the stream and the nightly job: every function here is pure
numpy/pandas on one key's rows (or on a frame of rows), and the shingler's
state is a dict of small arrays that a caller stores between micro-batches
(Spark's keyed state in the stream; a loop variable in the evaluation command).

Shingling rules (per key, `Shingler`):

- Order: the caller passes each micro-batch's events sorted by event time (ties
  by value, so the row order inside a batch never matters). An event whose time
  is older than the newest event the key has already shingled is **late**: it
  does not enter the shingle (its neighbours have been scored already and the
  past is not rewritten), it is counted in the state (`late`) and flagged so
  that detectors that do not need order (z-score, seasonal baseline) score it
  without learning from it. An event at the same time as the newest joins the
  shingle after it.
- Period: `period_seconds` if configured, otherwise inferred once per key as
  the median of its first `infer_steps` positive time steps (until then, no gap
  is filled).
- Gaps: a step longer than 1.5 periods misses round(step / period) - 1 values;
  the last `size - 1` of them at most (older ones would leave the shingle before
  any scoring) are filled by `imputation`: `previous` (the key's last value),
  `linear` (on the line from the last value to the new one) or `zero`. Filled
  values only complete shingles: they are neither scored nor learnt as points.
- A shingle is complete once the key has `size` values (real or filled); until
  then its row is NaN and shingle-based detectors skip the event.

State per key: `size` + 16 float64 values and a few counters (about 300 bytes
for a shingle of 4).

>>> import numpy as np
>>> shingler = Shingler(size=3, period_seconds=60, imputation="linear")
>>> state = shingler.initial_state()
>>> rows, late = shingler.push(state, np.array([0.0, 60.0, 240.0]), np.array([1.0, 2.0, 5.0]))
>>> rows.tolist()
[[nan, nan, nan], [nan, nan, nan], [3.0, 4.0, 5.0]]
>>> rows, late = shingler.push(state, np.array([120.0, 300.0]), np.array([9.0, 6.0]))
>>> rows.tolist(), late.tolist(), int(state["late"][0])
([[nan, nan, nan], [4.0, 5.0, 6.0]], [True, False], 1)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

IMPUTATIONS = ("previous", "linear", "zero")
GAP_FACTOR = 1.5  # a step this many periods long or more is a gap
SECONDS_PER_DAY = 86_400
SECONDS_PER_WEEK = 7 * SECONDS_PER_DAY
_STEPS = 16

log = logging.getLogger(__name__)


class Shingler:
    """The last `size` values of a key, in event-time order, across micro-batches (rules in the module docstring).

    Args:
        size: values per shingle (>= 1).
        period_seconds: the expected time between two events; 0 infers it per key.
        imputation: how missing periods are filled: "previous", "linear" or "zero".
        infer_steps: positive steps the inferred period is the median of (1-16).
    """

    def __init__(self, size: int = 4, period_seconds: float = 0.0, imputation: str = "previous",
                 infer_steps: int = 8):
        if int(size) < 1:
            raise ValueError(f"shingle_size must be at least 1, got {size}")
        if not float(period_seconds) >= 0:
            raise ValueError(f"period_seconds must be >= 0 (0 infers it), got {period_seconds}")
        if imputation not in IMPUTATIONS:
            raise ValueError(f"imputation must be one of {', '.join(IMPUTATIONS)}, got {imputation!r}")
        if not 1 <= int(infer_steps) <= _STEPS:
            raise ValueError(f"infer_steps must be between 1 and {_STEPS}, got {infer_steps}")
        self.size, self.period_seconds = int(size), float(period_seconds)
        self.imputation, self.infer_steps = imputation, int(infer_steps)

    def initial_state(self) -> dict[str, np.ndarray]:
        """A key that has seen nothing: its values, how many it holds, its newest time, period and counters."""
        return {"values": np.full(self.size, np.nan), "held": np.zeros(1, np.int64),
                "last_time": np.full(1, -np.inf), "period": np.full(1, self.period_seconds),
                "steps": np.zeros(_STEPS), "n_steps": np.zeros(1, np.int64), "late": np.zeros(1, np.int64),
                "imputed": np.zeros(1, np.int64)}

    def push(self, state: dict[str, np.ndarray], times: np.ndarray, values: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
        """Add a batch's events (sorted by time; seconds) to the key's shingle; changes `state` in place.

        Returns:
            (rows, late): per event its shingle (oldest value first; NaN until complete, and for late events)
            and whether it was late.
        """
        rows = np.full((len(times), self.size), np.nan)
        late = np.zeros(len(times), dtype=bool)
        buf = state["values"]
        for i, (t, x) in enumerate(zip(np.asarray(times, float), np.asarray(values, float))):
            last = state["last_time"][0]
            if t < last:
                late[i] = True
                state["late"][0] += 1
                continue
            if np.isfinite(last) and t > last:
                self._learn_period(state, t - last)
                for filled in self._fill(state, t - last, x):
                    buf[:-1] = buf[1:]
                    buf[-1] = filled
                    state["held"][0] += 1
                    state["imputed"][0] += 1
            buf[:-1] = buf[1:]
            buf[-1] = x
            state["held"][0] += 1
            state["last_time"][0] = t
            if state["held"][0] >= self.size:
                rows[i] = buf
        return rows, late

    def _learn_period(self, state: dict[str, np.ndarray], step: float) -> None:
        n = int(state["n_steps"][0])
        if self.period_seconds > 0 or n >= self.infer_steps:
            return
        state["steps"][n] = step
        state["n_steps"][0] = n + 1
        if n + 1 == self.infer_steps:
            state["period"][0] = float(np.median(state["steps"][: n + 1]))

    def _fill(self, state: dict[str, np.ndarray], step: float, x: float) -> list[float]:
        period = state["period"][0]
        if period <= 0 or step < GAP_FACTOR * period:
            return []
        missing = int(round(step / period)) - 1
        last = state["values"][-1]
        positions = range(max(1, missing - self.size + 2), missing + 1)
        if self.imputation == "zero":
            return [0.0 for _ in positions]
        if self.imputation == "linear":
            return [last + (x - last) * j / (missing + 1) for j in positions]
        return [last for _ in positions]


def cyclic_time_features(times: pd.Series) -> pd.DataFrame:
    """Hour of day and day of week as points on circles (sin, cos), so 23:00 is next to 00:00.

    >>> cyclic_time_features(pd.Series(pd.to_datetime(["2026-11-30 06:00"]))).round(3).iloc[0].tolist()
    [1.0, 0.0, 0.223, 0.975]
    """
    ts = pd.to_datetime(times)
    hour = ts.dt.hour + ts.dt.minute / 60 + ts.dt.second / 3600
    day = ts.dt.dayofweek + hour / 24  # Monday 00:00 = 0
    return pd.DataFrame({"hour_sin": np.sin(2 * np.pi * hour / 24), "hour_cos": np.cos(2 * np.pi * hour / 24),
                         "dow_sin": np.sin(2 * np.pi * day / 7), "dow_cos": np.cos(2 * np.pi * day / 7)},
                        index=times.index)


def hour_of_week(seconds: np.ndarray, period_seconds: float = SECONDS_PER_WEEK, bins: int = 168) -> np.ndarray:
    """The slot of each epoch-second time in a period cut into `bins` (hour of week by default; Monday 00:00 UTC
    starts slot 0 for the week)."""
    monday = 4 * SECONDS_PER_DAY  # 1970-01-01 was a Thursday: Monday 1970-01-05 starts the weekly cycle
    phase = np.mod(np.asarray(seconds, float) - monday, period_seconds)
    return np.minimum((phase * bins / period_seconds).astype(np.int64), bins - 1)


def standardise_against(frame: pd.DataFrame, baselines: pd.DataFrame, key: str, features: list[str]
                        ) -> pd.DataFrame:
    """Each feature as a z-score against its key's baseline (`baselines`: key, feature, mean, std per row).

    A key or feature without a baseline, or with std 0, gives NaN (nothing to compare with), not inf.

    >>> f = pd.DataFrame({"host": ["a", "b"], "cpu": [3.0, 5.0]})
    >>> b = pd.DataFrame({"host": ["a"], "feature": ["cpu"], "mean": [1.0], "std": [2.0]})
    >>> standardise_against(f, b, "host", ["cpu"])["cpu_z"].tolist()
    [1.0, nan]
    """
    out = pd.DataFrame(index=frame.index)
    for feature in features:
        ref = baselines.loc[baselines["feature"] == feature].set_index(key)
        mean = frame[key].map(ref["mean"])
        std = frame[key].map(ref["std"]).where(lambda s: s > 0)
        out[f"{feature}_z"] = (frame[feature] - mean) / std
    return out


def differences(frame: pd.DataFrame, key: str, time: str, features: list[str], lags: tuple[int, ...] = (1,)
                ) -> pd.DataFrame:
    """Each feature minus the key's value `lag` events earlier, in event-time order (NaN without one).

    In the stream a key's earlier values come from its shingle state; on a frame that holds a key's history
    (the nightly job) this is the same difference.

    >>> f = pd.DataFrame({"k": ["a", "a", "b", "a"], "t": [1, 2, 1, 3], "v": [1.0, 4.0, 2.0, 9.0]})
    >>> differences(f, "k", "t", ["v"])["v_diff1"].tolist()
    [nan, 3.0, nan, 5.0]
    """
    ordered = frame.sort_values([key, time], kind="stable")
    out = pd.DataFrame(index=frame.index)
    for feature in features:
        for lag in lags:
            out[f"{feature}_diff{lag}"] = ordered[feature] - ordered.groupby(key)[feature].shift(lag)
    return out


@dataclass(frozen=True)
class Selection:
    """What `select_features` kept and dropped, and each kept feature's share of the score's explanation."""

    kept: list[str]
    constant: list[str]
    duplicated: dict[str, str]  # dropped feature -> the kept feature it duplicates
    contribution: dict[str, float]


def select_features(frame: pd.DataFrame, features: list[str], scores: pd.Series | None = None) -> Selection:
    """Drop constant features and exact duplicates (the later name goes), logging the names; report contributions.

    A feature's contribution is its absolute Spearman correlation with `scores`, normalised to sum to 1 over the
    kept features (0 each without scores or without variation in them).

    >>> f = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [5.0, 5, 5, 5], "c": [1.0, 2, 3, 4], "d": [4.0, 1, 3, 2]})
    >>> s = select_features(f, ["a", "b", "c", "d"], scores=pd.Series([0.1, 0.2, 0.3, 0.4]))
    >>> s.kept, s.constant, s.duplicated, s.contribution
    (['a', 'd'], ['b'], {'c': 'a'}, {'a': 0.714, 'd': 0.286})
    """
    constant = [f for f in features if frame[f].nunique(dropna=False) <= 1]
    kept, duplicated, seen = [], {}, {}
    for feature in features:
        if feature in constant:
            continue
        signature = pd.util.hash_pandas_object(frame[feature], index=False).to_numpy().tobytes()
        if signature in seen and frame[feature].equals(frame[seen[signature]]):
            duplicated[feature] = seen[signature]
            continue
        seen[signature] = feature
        kept.append(feature)
    if constant or duplicated:
        log.info("feature selection dropped constant features %s and duplicated features %s", constant,
                 {k: f"same as {v}" for k, v in duplicated.items()})
    weight = {f: 0.0 for f in kept}
    if scores is not None and kept and pd.Series(scores).nunique() > 1:
        ranks = frame[kept].rank()
        corr = ranks.corrwith(pd.Series(scores, index=frame.index).rank()).abs().fillna(0.0)
        if corr.sum() > 0:
            weight = {f: round(float(corr[f] / corr.sum()), 3) for f in kept}
    return Selection(kept=kept, constant=constant, duplicated=duplicated, contribution=weight)
