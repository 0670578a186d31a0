"""Cheap per-key detectors and the calibration that makes every detector's score comparable across keys.

- `RunningZScore`: Welford's mean and variance with a forgetting factor; the raw score of x is |x - mean| / sd,
  taken before x is learnt. The cheap baseline.
- `SeasonalBaseline`: the same statistics per slot of a period (hour of week by default), so Mondays at 9 are
  compared with Mondays at 9; the spread of a slot with few values is shrunk towards the key's overall residual
  spread. Its residual |x - slot mean| / slot sd is the raw score.
- `TailCalibrator`: turns any raw score into 1 - (tail probability of that raw score among the key's own past raw
  scores), from a time-decayed histogram of log(1 + raw). A key's normal behaviour thus maps to scores spread
  uniformly over [0, 1], whatever its units or its detector, and one threshold (0.999: about one false alarm in
  a thousand normal events) serves every key. Beyond the largest raw score seen, the tail keeps shrinking
  exponentially, so more extreme still ranks higher.

Each detector's state is a dict of small numpy arrays changed in place (the per-key detector stores them);
all is sequential and deterministic: the state after n values depends only on the values, in order.

Forgetting: with factor a, a value's weight after k newer values is about (1 - a)^k; the effective memory is
1 / a values (a = 1 / n while fewer than 1 / a values were seen, which is Welford's exact average).

>>> import numpy as np
>>> z = RunningZScore(forgetting=0.01)
>>> state = z.initial_state()
>>> raw = [z.score_learn(state, x) for x in np.random.default_rng(0).normal(10, 2, 500)]
>>> round(float(state["mean"][0]), 1), round(z.score_learn(state, 30.0), 1)
(9.9, 9.7)
>>> calibrator = TailCalibrator(min_history=100)
>>> cal = calibrator.initial_state()
>>> scores = [calibrator.score_learn(cal, r) for r in raw]
>>> round(float(np.mean(scores[100:])), 2), calibrator.score_learn(cal, 9.7) > 0.999
(0.47, True)
"""
from __future__ import annotations

import math

import numpy as np

from features.series import SECONDS_PER_WEEK, hour_of_week

_BIN_WIDTH = 0.05  # of log(1 + raw score)
_BINS = 256  # up to raw scores of e^12.8, about 360,000
_TAIL_WIDTH = 0.25  # beyond the largest raw score seen, the tail shrinks by e per this much log(1 + raw)
_MIN_SD = 1e-9


def _check(name: str, value: float, low: float, high: float = math.inf, low_open: bool = False) -> float:
    value = float(value)
    if not (low < value if low_open else low <= value) or not value <= high:
        raise ValueError(f"{name} must be in {'(' if low_open else '['}{low}, {high}], got {value}")
    return value


def _ew_update(n: float, mean: float, var: float, x: float, forgetting: float) -> tuple[float, float, float]:
    """One Welford step with forgetting: (count, mean, variance) after x."""
    n += 1
    a = max(forgetting, 1.0 / n)
    delta = x - mean
    mean += a * delta
    var = (1 - a) * (var + a * delta * delta)
    return n, mean, var


class RunningZScore:
    """|x - mean| / sd with an exponentially forgetting mean and variance (`forgetting` in (0, 1])."""

    def __init__(self, forgetting: float = 0.005):
        self.forgetting = _check("forgetting", forgetting, 0.0, 1.0, low_open=True)

    def initial_state(self) -> dict[str, np.ndarray]:
        return {"n": np.zeros(1), "mean": np.zeros(1), "var": np.zeros(1)}

    def score(self, state: dict[str, np.ndarray], x: float) -> float:
        """The raw score of x against the state (NaN before two values), without learning x."""
        if state["n"][0] < 2:
            return math.nan
        sd = max(math.sqrt(state["var"][0]), _MIN_SD * (1 + abs(state["mean"][0])))
        return float(abs(x - state["mean"][0]) / sd)

    def score_learn(self, state: dict[str, np.ndarray], x: float) -> float:
        raw = self.score(state, x)
        state["n"][0], state["mean"][0], state["var"][0] = _ew_update(
            state["n"][0], state["mean"][0], state["var"][0], x, self.forgetting)
        return raw


class SeasonalBaseline:
    """Per-slot expected value and spread over a period (hour of week by default), learnt online.

    Args:
        period_seconds: the season's length (a week by default).
        bins: slots per period (168: hours of the week).
        forgetting: per slot, as in RunningZScore.
        min_count: values a slot needs before it scores.
        prior_weight: values' worth of the key's overall residual variance mixed into each slot's variance.
    """

    def __init__(self, period_seconds: float = SECONDS_PER_WEEK, bins: int = 168, forgetting: float = 0.05,
                 min_count: int = 3, prior_weight: float = 5.0):
        self.period_seconds = _check("period_seconds", period_seconds, 0.0, low_open=True)
        self.bins = int(_check("bins", bins, 1))
        self.forgetting = _check("forgetting", forgetting, 0.0, 1.0, low_open=True)
        self.min_count = int(_check("min_count", min_count, 1))
        self.prior_weight = _check("prior_weight", prior_weight, 0.0)

    def initial_state(self) -> dict[str, np.ndarray]:
        return {"n": np.zeros(self.bins), "mean": np.zeros(self.bins), "var": np.zeros(self.bins),
                "resid": np.zeros(2)}  # count and mean of squared residuals over all slots

    def slots(self, seconds: np.ndarray) -> np.ndarray:
        """The slot of each epoch second (features.series.hour_of_week): what `score` and `score_learn` take."""
        return hour_of_week(seconds, self.period_seconds, self.bins)

    def score(self, state: dict[str, np.ndarray], b: int, x: float) -> float:
        """The raw score of value x in slot b (NaN while the slot has fewer than `min_count` values)."""
        n = state["n"][b]
        if n < self.min_count:
            return math.nan
        k = self.prior_weight if state["resid"][0] > 0 else 0.0
        var = (n * state["var"][b] + k * state["resid"][1]) / (n + k)
        sd = max(math.sqrt(var), _MIN_SD * (1 + abs(state["mean"][b])))
        return float(abs(x - state["mean"][b]) / sd)

    def score_learn(self, state: dict[str, np.ndarray], b: int, x: float) -> float:
        raw = self.score(state, b, x)
        if state["n"][b] > 0:
            r = state["resid"]
            r[0], r[1], _ = _ew_update(r[0], r[1], 0.0, (x - state["mean"][b]) ** 2, self.forgetting / self.bins)
        state["n"][b], state["mean"][b], state["var"][b] = _ew_update(
            state["n"][b], state["mean"][b], state["var"][b], x, self.forgetting)
        return raw


class TailCalibrator:
    """Raw score -> 1 - its tail probability among the key's past raw scores (see the module docstring).

    Args:
        half_life: past raw scores lose half their weight after this many newer ones.
        min_history: raw scores needed before it scores (0 until then: the key is still learning).
    """

    def __init__(self, half_life: float = 2000.0, min_history: int = 100):
        self.half_life = _check("half_life", half_life, 0.0, low_open=True)
        self.min_history = int(_check("min_history", min_history, 1))
        self._decay = 0.5 ** (1.0 / self.half_life)

    def initial_state(self) -> dict[str, np.ndarray]:
        # total = the decayed sum of counts, top = the highest bin ever used (decay never empties a bin)
        return {"counts": np.zeros(_BINS), "seen": np.zeros(1), "total": np.zeros(1), "top": np.full(1, -1.0)}

    def score(self, state: dict[str, np.ndarray], raw: float) -> float:
        """The calibrated score of `raw` in [0, 1] (0 for NaN or while learning), without learning it."""
        if math.isnan(raw) or state["seen"][0] < self.min_history:
            return 0.0
        counts = state["counts"]
        u = math.log1p(max(raw, 0.0)) / _BIN_WIDTH
        b = min(int(u), _BINS - 1)
        above = float(counts[b + 1:].sum()) + counts[b] * max(0.0, min(1.0, b + 1 - u))
        excess = max(0.0, u - (state["top"][0] + 1)) * _BIN_WIDTH
        tail = (above + 0.5 * math.exp(-excess / _TAIL_WIDTH)) / (state["total"][0] + 1.0)
        return float(min(1.0, max(0.0, 1.0 - tail)))

    def learn(self, state: dict[str, np.ndarray], raw: float) -> None:
        if math.isnan(raw):
            return
        b = min(int(math.log1p(max(raw, 0.0)) / _BIN_WIDTH), _BINS - 1)
        state["counts"] *= self._decay
        state["counts"][b] += 1.0
        state["total"][0] = state["total"][0] * self._decay + 1.0
        state["top"][0] = max(state["top"][0], b)
        state["seen"][0] += 1

    def score_learn(self, state: dict[str, np.ndarray], raw: float) -> float:
        score = self.score(state, raw)
        self.learn(state, raw)
        return score
