"""Per-key time-series detection: (state bytes, a micro-batch of one key's events) -> (scores, new state bytes).

This is the function Spark's keyed state calls once per key and micro-batch
(`applyInPandasWithState` / `transformWithStateInPandas`): it owns no Spark
code, so the stream, the nightly job, the NAB evaluation (commands.evaluate_series)
and the tests run the same per-key path.

Per event, in event-time order (ties by value, then by `order_col` if given, so
the order of rows inside a batch never changes a score):

1. the shingler (features.series) places it in the key's shingle, filling gaps
   and setting late events aside (the rules are in that module's docstring);
2. each configured detector gives a raw score before learning the event:
   `rcf`, the Robust Random Cut Forest's CoDisp of the shingle
   (models.series.rcf); `zscore`, the running z-score of the value; `seasonal`,
   the residual against the key's baseline for the event's slot of the week.
   A late event is scored by `zscore` and `seasonal` without being learnt, and
   not by `rcf`;
3. each raw score is calibrated against the key's own past raw scores of that
   detector (models.series.stats.TailCalibrator) into [0, 1];
4. the ensemble combines the detectors that have finished learning:
   `bonferroni` (default) = 1 - min(1, k * min_i (1 - s_i)) over the k of them:
   an event is as anomalous as its most surprised detector, corrected for
   asking k detectors, so one threshold keeps its false-alarm rate per key
   whatever k is; `max` = max_i s_i; `mean` = the mean of the s_i.

Output columns added to the key's rows (sorted as above): `score` (the
ensemble, in [0, 1], 0 while the key is learning), `score_<detector>` for each
detector, `top_dimension` (the shingle position the forest credits most, e.g.
"value[t-1]"; empty without a forest score) and `late`.

Invariants: every step is sequential and seeded by the key's own sequence
number, so the same state and the same events give the same scores and the
same next state, in any row order and whatever the batch sizes (scoring n
events in one batch or in n batches of one gives the same scores). The state
is one blob of raw little-endian numpy arrays in an order fixed by the
settings (no pickle, no names: an .npz cost 20 ms a call through zipfile, this
costs a copy), whose size is fixed by the settings, not by the stream: shingle,
z-score, 168 season slots and their calibrators take 8.4 KB; a forest of 50
trees of 256 on shingles of 4 adds 1.46 MB (formula in models.series.rcf;
`state_size` gives the total).

>>> import numpy as np, pandas as pd
>>> detector = SeriesDetector(shingle_size=4, num_trees=20, tree_size=64, min_history=50, season_bins=24,
...                           season_period_seconds=86_400)
>>> t = pd.date_range("2026-11-02", periods=600, freq="5min")
>>> v = np.sin(np.arange(600) * 2 * np.pi / 288) + np.random.default_rng(0).normal(0, 0.05, 600)
>>> v[500] = 3.0
>>> state = None
>>> for start in range(0, 600, 100):
...     scores, state = detector.update(state, pd.DataFrame({"event_time": t[start:start + 100],
...                                                          "value": v[start:start + 100]}))
>>> top = scores.loc[scores["score"].idxmax()]
>>> str(top["event_time"]), round(float(top["score"]), 4), top["top_dimension"]
('2026-11-03 17:40:00', 1.0, 'value[t-0]')
"""
from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.series import SECONDS_PER_WEEK, Shingler
from models.series.rcf import RandomCutForest
from models.series.stats import RunningZScore, SeasonalBaseline, TailCalibrator

DETECTORS = ("rcf", "zscore", "seasonal")
ENSEMBLE_RULES = ("bonferroni", "max", "mean")
_FORMAT = 1  # bump when the state's arrays change meaning
_HEADER = 16  # format and body size, two little-endian int64


class SeriesDetector:
    """Per-key shingles, RRCF, running z-score and seasonal baseline, calibrated and combined (module docstring).

    Args:
        detectors: which detectors run, any of "rcf", "zscore", "seasonal".
        shingle_size, period_seconds, imputation: the shingle (features.series.Shingler).
        num_trees, tree_size, time_decay: the forest (models.series.rcf.RandomCutForest).
        zscore_forgetting: the running z-score's forgetting factor.
        season_period_seconds, season_bins, season_forgetting: the seasonal baseline.
        calibration_half_life, min_history: the calibration of every detector's raw scores.
        ensemble: "bonferroni", "max" or "mean".
        seed: seeds the forest.
    """

    def __init__(self, detectors: tuple[str, ...] = DETECTORS, shingle_size: int = 4, period_seconds: float = 0.0,
                 imputation: str = "previous", num_trees: int = 50, tree_size: int = 256,
                 time_decay: float | None = None, zscore_forgetting: float = 0.005,
                 season_period_seconds: float = SECONDS_PER_WEEK, season_bins: int = 168,
                 season_forgetting: float = 0.05, calibration_half_life: float = 2000.0, min_history: int = 100,
                 ensemble: str = "bonferroni", seed: int = 0):
        detectors = tuple(detectors)
        unknown = [d for d in detectors if d not in DETECTORS]
        if unknown or not detectors:
            raise ValueError(f"detectors must be a non-empty list of {', '.join(DETECTORS)}, got {list(detectors)}")
        if ensemble not in ENSEMBLE_RULES:
            raise ValueError(f"ensemble must be one of {', '.join(ENSEMBLE_RULES)}, got {ensemble!r}")
        self.detectors, self.ensemble = detectors, ensemble
        self.shingler = Shingler(shingle_size, period_seconds, imputation)
        self.forest = RandomCutForest(num_trees, tree_size, time_decay, seed)
        self.zscore = RunningZScore(zscore_forgetting)
        self.seasonal = SeasonalBaseline(season_period_seconds, season_bins, season_forgetting)
        self.calibrator = TailCalibrator(calibration_half_life, min_history)
        self._layout = [(part, name, array.dtype.newbyteorder("<"), array.shape, array.size)
                        for part, arrays in self.initial_state().items() for name, array in arrays.items()]
        self._body_bytes = sum(-(-dtype.itemsize * size // 8) * 8 for _, _, dtype, _, size in self._layout)
        self._initial = self.to_bytes(self.initial_state())

    @classmethod
    def from_config(cls, section: Mapping) -> "SeriesDetector":
        """From a config section (keys = the constructor's argument names); an unknown key is a ValueError naming it."""
        defaults = inspect.signature(cls).parameters
        for key, value in section.items():
            if key not in defaults:
                raise ValueError(f"unknown series detector setting {key!r} (known: {', '.join(defaults)})")
            default = defaults[key].default
            if isinstance(default, str):
                wrong = not isinstance(value, str)
            elif isinstance(default, tuple):
                wrong = not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value)
            else:  # numbers (time_decay's None means "derive it")
                wrong = isinstance(value, bool) or not isinstance(value, (int, float))
                wrong = wrong and not (default is None and value is None)
            if wrong:
                kind = "a string" if isinstance(default, str) else "a list of names" if isinstance(
                    default, tuple) else "a number"
                raise ValueError(f"series detector setting {key!r} must be {kind}, got {value!r}")
        return cls(**section)

    # -- state -------------------------------------------------------------------------------------------------
    def initial_state(self) -> dict[str, dict[str, np.ndarray]]:
        parts = {"rcf": lambda: self.forest.initial_state(self.shingler.size), "zscore": self.zscore.initial_state,
                 "seasonal": self.seasonal.initial_state}
        state = {"shingle": self.shingler.initial_state()}
        for name in self.detectors:
            state[name] = parts[name]()
            state[f"cal_{name}"] = self.calibrator.initial_state()
        return state

    def to_bytes(self, state: dict[str, dict[str, np.ndarray]]) -> bytes:
        """The state as one blob: a header (format, bytes that follow), then each array's raw little-endian
        bytes in a fixed order, each padded to 8 bytes.

        No pickle and no per-array names: the layout is fixed by the detector's settings (`_layout`), which is
        also why a blob written under other settings is refused rather than misread.
        """
        buffer = bytearray(_HEADER + self._body_bytes)
        buffer[:_HEADER] = np.array([_FORMAT, self._body_bytes], dtype="<i8").tobytes()
        for (part, name, _, _, _), view in zip(self._layout, self._views(buffer)):
            view[...] = state[part][name]
        return bytes(buffer)

    def from_bytes(self, blob: bytes | bytearray) -> dict[str, dict[str, np.ndarray]]:
        """The state in a blob written by `to_bytes` of a detector with the same settings (else a ValueError).

        Its arrays are writable views of one copy of the blob, so `bytes` of that copy is the next blob
        (`update` takes one copy in and one out, whatever the number of arrays).
        """
        return self._state_of(bytearray(blob))

    def _state_of(self, buffer: bytearray) -> dict[str, dict[str, np.ndarray]]:
        fmt, size = np.frombuffer(bytes(buffer[:_HEADER]), dtype="<i8") if len(buffer) >= _HEADER else (-1, -1)
        if fmt != _FORMAT or size != self._body_bytes or len(buffer) != _HEADER + self._body_bytes:
            raise ValueError(f"series state is not format {_FORMAT} with {self._body_bytes} bytes for these "
                             f"settings (format {fmt}, {size} bytes): the detector's settings changed since it "
                             f"was written")
        state: dict[str, dict[str, np.ndarray]] = {}
        for (part, name, _, _, _), view in zip(self._layout, self._views(buffer)):
            state.setdefault(part, {})[name] = view
        return state

    def _views(self, buffer: bytearray) -> list[np.ndarray]:
        views, offset = [], _HEADER
        for _, _, dtype, shape, size in self._layout:
            views.append(np.frombuffer(buffer, dtype=dtype, count=size, offset=offset).reshape(shape))
            offset += -(-dtype.itemsize * size // 8) * 8
        return views

    def state_size(self) -> int:
        """Bytes of one key's serialised state (fixed by the parameters)."""
        return len(self._initial)

    # -- scoring -----------------------------------------------------------------------------------------------
    def update(self, blob: bytes | None, events: pd.DataFrame, time_col: str = "event_time",
               value_col: str = "value", order_col: str | None = None) -> tuple[pd.DataFrame, bytes]:
        """Score one key's new events and learn them.

        Args:
            blob: the key's state from the previous call (None for a new key).
            events: the key's events of this micro-batch, in any order; `time_col` holds datetimes (naive =
                UTC) or epoch seconds.
            order_col: a column breaking ties between events with the same time and value (e.g. an event id).

        Returns:
            (the events sorted by time with the score columns added, the new state blob).
        """
        seconds = _epoch_seconds(events[time_col])
        values = events[value_col].to_numpy(dtype=float)
        ties = None if order_col is None else events[order_col].to_numpy()
        order, columns, blob = self.update_arrays(blob, seconds, values, ties)
        if columns["top_dimension"].size:
            columns["top_dimension"] = np.where(columns["top_dimension"] < 0, "",
                                                [f"{value_col}[t-{k}]" for k in columns["top_dimension"]])
        else:
            columns["top_dimension"] = columns["top_dimension"].astype(str)
        data = {name: events[name].to_numpy()[order] for name in events.columns} | columns
        return pd.DataFrame(data), blob

    def update_arrays(self, blob: bytes | None, seconds: np.ndarray, values: np.ndarray,
                      ties: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray], bytes]:
        """`update` on arrays: (the order events were taken in, score columns in that order, the new state blob).

        `top_dimension` here is the shingle lag the forest credits most (0 = the event itself; -1 for none).
        """
        buffer = bytearray(self._initial if blob is None else blob)
        state = self._state_of(buffer)
        order = np.lexsort([values, seconds] if ties is None else [ties, values, seconds])
        seconds, values = seconds[order], values[order]
        n = len(order)
        rows, late = self.shingler.push(state["shingle"], seconds, values)
        raw = {name: np.full(n, np.nan) for name in self.detectors}
        top = np.full(n, -1, dtype=np.int64)
        if "rcf" in self.detectors:
            ready = ~np.isnan(rows).any(axis=1)
            if ready.any():
                codisp, contributions = self.forest.update(state["rcf"], rows[ready])
                raw["rcf"][ready] = codisp
                lag = self.shingler.size - 1 - np.argmax(contributions, axis=1)
                top[np.flatnonzero(ready)[codisp > 0]] = lag[codisp > 0]
        slots = self.seasonal.slots(seconds).tolist()
        for i, x in enumerate(values.tolist()):
            if "zscore" in raw:
                z = self.zscore.score if late[i] else self.zscore.score_learn
                raw["zscore"][i] = z(state["zscore"], x)
            if "seasonal" in raw:
                s = self.seasonal.score if late[i] else self.seasonal.score_learn
                raw["seasonal"][i] = s(state["seasonal"], slots[i], x)

        columns = {}
        calibrated = np.zeros((n, len(self.detectors)))
        ready = np.zeros(calibrated.shape, dtype=bool)
        for j, name in enumerate(self.detectors):
            cal = state[f"cal_{name}"]
            for i, r in enumerate(raw[name].tolist()):
                ready[i, j] = not np.isnan(r) and cal["seen"][0] >= self.calibrator.min_history
                calibrated[i, j] = self.calibrator.score(cal, r)
                if not late[i]:
                    self.calibrator.learn(cal, r)
            columns[f"score_{name}"] = calibrated[:, j]
        columns["score"] = combine(calibrated, ready, self.ensemble)
        columns["top_dimension"] = top
        columns["late"] = late
        return order, columns, bytes(buffer)


def combine(scores: np.ndarray, ready: np.ndarray, rule: str = "bonferroni") -> np.ndarray:
    """The ensemble score per row over the detectors (columns) that are `ready`; 0 where none is.

    >>> combine(np.array([[0.999, 0.5], [0.9, 0.9]]), np.array([[True, True], [True, False]]))
    array([0.998, 0.9  ])
    """
    k = ready.sum(axis=1)
    masked = np.where(ready, scores, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no detector ready, 0 below
        if rule == "max":
            out = np.nanmax(masked, axis=1)
        elif rule == "mean":
            out = np.nanmean(masked, axis=1)
        else:
            out = 1.0 - np.minimum(1.0, k * (1.0 - np.nanmax(masked, axis=1)))
    return np.where(k > 0, np.round(out, 12), 0.0)


def _epoch_seconds(column: pd.Series) -> np.ndarray:
    """Epoch seconds of a datetime column (naive = UTC) or of numbers taken as seconds already."""
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=float)
    if column.dtype.kind == "M":  # naive datetimes, any unit: no parsing
        return column.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
    ts = pd.to_datetime(column)
    if ts.dt.tz is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ((ts - pd.Timestamp(0)) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)
