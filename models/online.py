"""Online isolation forest: a model that follows the stream at the rate data arrives.

The nightly champion is fitted once a day; between two retrains normal behaviour
can move (a release, a new machine type) and a fresh lake has no model at all.
This forest is refitted a little at every micro-batch from a reservoir of recent
clean events, in the spirit of IForestASD and sliding-window forests.

Update rule, for micro-batch `b` with `m` clean events (the caller passes only
events that are valid, not flagged by a serving model and not labelled as
anomalies by an analyst; `forget` drops ids an analyst labels later). One
exception (`admissible`): when more than `shift_share` of a batch's events are
flagged, the change hits the stream as a whole, not a few keys (a release, a
new machine type), so the flagged events are admitted too and the forest
learns the new normal within a few micro-batches. A persistent anomaly on a
few keys stays out. The price: an outage that hits more than that share of
the stream is learned as normal after a few micro-batches (the champion still
flags it; see how the serving modes combine).

1. Reservoir (capacity n = `reservoir_size`), decayed in event time. While it
   holds fewer than n events it takes the batch's events, up to the free room.
   Once full, each slot is replaced with probability
   q = 1 - 0.5 ** (dt / half_life_seconds) by a distinct, uniformly drawn event
   of the batch (as many slots as the batch has events, at most), dt being how
   far the newest event time moved since the last update. An event is still in
   the reservoir after t seconds of event time with probability about
   0.5 ** (t / half_life_seconds), whatever the event rate: at 10 or at 40,000
   events a second the model remembers the same minutes. (Aggarwal's biased
   reservoir, 2006, with the bias in time rather than in events.)
2. Trees: `n_estimators` trees in `groups` equal groups, each tree fitted on
   `max_samples` events drawn from the reservoir. Each update refits the
   `refit_groups` least recently fitted groups, so the whole forest is renewed
   every groups / refit_groups micro-batches. Cold start: nothing scores
   until the reservoir holds `min_events`; the update that gets there fits
   every group.
3. Threshold: each update adds the batch's scores (the caller passes them, or
   a bounded sample of them) to a ring of the last `score_window` scores; the
   threshold is their (1 - contamination) quantile (`threshold_rule =
   "quantile"`) or median + c MAD (`"mad"`, MAD scaled by 1.4826 to a standard
   deviation). At a cold start the ring is seeded with the reservoir's own
   scores.

Invariants: `update` is a pure function of (state, batch, batch id): every
random draw is seeded by (seed, batch id) and the batch's events are taken in
event-id order. Scoring batch b uses the state after batch b - 1, so a batch
replayed after a crash, given the same stored state, gives the same scores and
the same next state. The state's size is bounded by the parameters, not by the
stream: the reservoir (n x features), the ring and the trees (at most
2 max_samples - 1 nodes each).

Cost per update, on one core: one group's refit (axis-parallel trees are
fitted by scikit-learn and kept as node arrays: a few ms for 10 trees of 256;
extended ones by models.extended in Python, about 30 ms a tree), one scoring
pass over the reservoir at a cold start only, and copies of the reservoir and ring; scoring costs what the extended forest's scoring costs
(models/extended.py) with `n_estimators` trees.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> forest = OnlineForest(reservoir_size=2000, min_events=1000, n_estimators=40, groups=4, seed=1)
>>> state = forest.initial_state(n_features=2)
>>> for b in range(3):
...     X = rng.normal(size=(600, 2))
...     state = forest.update(state, X, ids=np.array([f"{b}-{i}" for i in range(600)]), batch_id=b, now=60.0 * b)
>>> state.ready, state.version, len(state.reservoir)
(True, 2, 1800)
>>> scores = forest.score(state, np.array([[0.0, 0.0], [6.0, -6.0]]))
>>> bool(scores[1] > state.threshold > scores[0])
True
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.ensemble import IsolationForest as SkIsolationForest

from models.extended import ExtendedIsolationForest, average_path_length

THRESHOLD_RULES = ("quantile", "mad")
MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution x 1.4826 = its standard deviation
_FOREST_ARRAYS = ("feats_", "coefs_", "thresholds_", "left_", "right_", "path_", "weights_", "depth_", "roots_",
                  "parent_")


@dataclass(frozen=True)
class OnlineState:
    """Everything the online forest knows after a micro-batch; replaced, never changed in place.

    Attributes:
        version: the batch id of the last update (-1 before any); scores record it.
        clock: the newest event time of the updates so far (epoch seconds; -inf before any).
        reservoir / reservoir_ids: the clean events kept (rows x features) and their ids.
        groups: fitted tree groups (empty until the reservoir first holds `min_events`).
        fitted_at: the batch id each group was last fitted at.
        ring / ring_size: the last scores (a ring buffer) and how many of its slots hold one.
        ring_next: the ring slot the next score goes to.
        threshold: the score at and above which an event is flagged (nan until ready).
    """

    version: int
    clock: float
    reservoir: np.ndarray
    reservoir_ids: np.ndarray
    groups: tuple = ()
    fitted_at: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ring: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ring_size: int = 0
    ring_next: int = 0
    threshold: float = math.nan

    @property
    def ready(self) -> bool:
        """True once the forest scores (its trees are fitted)."""
        return bool(self.groups)

    def nbytes(self) -> int:
        """Bytes the state's arrays hold (reported in stream_stats as the state's size)."""
        arrays = [self.reservoir, self.reservoir_ids, self.fitted_at, self.ring]
        arrays += [getattr(g, name) for g in self.groups for name in _FOREST_ARRAYS]
        return int(sum(a.nbytes for a in arrays))

    def to_bytes(self) -> bytes:
        """The state as one .npz blob (no pickles: it loads with `allow_pickle=False`)."""
        arrays = {"version": np.int64(self.version), "clock": np.float64(self.clock), "reservoir": self.reservoir,
                  "reservoir_ids": self.reservoir_ids.astype(str), "fitted_at": self.fitted_at, "ring": self.ring,
                  "ring_pos": np.array([self.ring_size, self.ring_next], dtype=np.int64),
                  "threshold": np.float64(self.threshold), "groups": np.int64(len(self.groups))}
        for i, g in enumerate(self.groups):
            for name in _FOREST_ARRAYS:
                arrays[f"g{i}_{name}"] = getattr(g, name)
            arrays[f"g{i}_shape"] = np.array([g.max_depth_, g.n_features_in_, g.max_samples_], dtype=np.int64)
        out = io.BytesIO()
        np.savez_compressed(out, **arrays)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> "OnlineState":
        data = np.load(io.BytesIO(blob), allow_pickle=False)
        groups = []
        for i in range(int(data["groups"])):
            g = ExtendedIsolationForest()
            for name in _FOREST_ARRAYS:
                setattr(g, name, data[f"g{i}_{name}"])
            g.max_depth_, g.n_features_in_, g.max_samples_ = (int(v) for v in data[f"g{i}_shape"])
            g.offset_ = float(average_path_length(g.max_samples_))
            groups.append(g)
        ring_size, ring_next = (int(v) for v in data["ring_pos"])
        return cls(version=int(data["version"]), clock=float(data["clock"]), reservoir=data["reservoir"], reservoir_ids=data["reservoir_ids"],
                   groups=tuple(groups), fitted_at=data["fitted_at"], ring=data["ring"], ring_size=ring_size,
                   ring_next=ring_next, threshold=float(data["threshold"]))


class OnlineForest:
    """The online forest's parameters and its pure update and scoring functions (state in `OnlineState`).

    Args:
        reservoir_size: clean events kept (n).
        half_life_seconds: event time after which half of the reservoir has been replaced (given enough events).
        min_events: events the reservoir must hold before the forest scores (at least `max_samples`).
        n_estimators: trees in all.
        groups: tree groups; `n_estimators` must divide into them.
        refit_groups: groups refitted per update.
        max_samples: events per tree.
        extension_level: as in models.extended (0 = axis-parallel cuts).
        contamination: the share of recent scores at or above the threshold (`threshold_rule = "quantile"`).
        threshold_rule: "quantile" or "mad".
        mad_c: c of median + c MAD (`threshold_rule = "mad"`).
        score_window: scores kept for the threshold.
        shift_share: a batch with more than this share flagged is a new normal: its flagged events are admitted.
        seed: seed of every draw (combined with the batch id).
    """

    def __init__(self, reservoir_size: int = 4096, half_life_seconds: float = 300.0, min_events: int = 1000,
                 n_estimators: int = 100,
                 groups: int = 10, refit_groups: int = 1, max_samples: int = 256, extension_level: int = 0,
                 contamination: float = 0.01, threshold_rule: str = "quantile", mad_c: float = 3.0,
                 score_window: int = 10_000, shift_share: float = 0.25, seed: int = 0):
        self.reservoir_size, self.min_events, self.n_estimators = reservoir_size, min_events, n_estimators
        self.half_life_seconds = half_life_seconds
        self.groups, self.refit_groups, self.max_samples = groups, refit_groups, max_samples
        self.extension_level, self.contamination = extension_level, contamination
        self.threshold_rule, self.mad_c, self.score_window, self.seed = threshold_rule, mad_c, score_window, seed
        self.shift_share = shift_share
        problems = [
            (reservoir_size < 2, "reservoir_size must be at least 2"),
            (not half_life_seconds > 0, "half_life_seconds must be positive"),
            (not max_samples <= min_events <= reservoir_size,
             "min_events must be between max_samples and reservoir_size"),
            (groups < 1 or n_estimators % groups, "n_estimators must be a positive multiple of groups"),
            (not 1 <= refit_groups <= groups, "refit_groups must be in [1, groups]"),
            (not 0 < contamination < 0.5, "contamination must be in (0, 0.5)"),
            (threshold_rule not in THRESHOLD_RULES, f"threshold_rule must be one of {THRESHOLD_RULES}"),
            (mad_c <= 0, "mad_c must be positive"),
            (score_window < 1, "score_window must be at least 1"),
            (not contamination < shift_share <= 1, "shift_share must be in (contamination, 1]"),
        ]
        for bad, message in problems:
            if bad:
                raise ValueError(message)

    def admissible(self, flagged: np.ndarray) -> np.ndarray:
        """Which of a batch's valid events may enter the reservoir, given which ones a serving model flagged.

        The unflagged ones; all of them when more than `shift_share` are flagged (a new normal).
        """
        flagged = np.asarray(flagged, dtype=bool)
        if len(flagged) and flagged.mean() > self.shift_share:
            return np.ones(len(flagged), dtype=bool)
        return ~flagged

    def initial_state(self, n_features: int) -> OnlineState:
        """The empty state of a fresh lake."""
        return OnlineState(version=-1, clock=-math.inf, reservoir=np.zeros((0, n_features)), reservoir_ids=np.zeros(0, dtype=str),
                           ring=np.zeros(self.score_window))

    def score(self, state: OnlineState, X: np.ndarray) -> np.ndarray:
        """Anomaly scores in [0, 1] (higher = more anomalous); nan for every row while the forest is not ready."""
        X = np.asarray(X, dtype="float64")
        if not state.ready:
            return np.full(len(X), math.nan)
        depths = np.mean([g.mean_depths(X) for g in state.groups], axis=0)
        return np.power(2.0, -depths / state.groups[0].offset_)

    def update(self, state: OnlineState, X: np.ndarray, ids: np.ndarray, batch_id: int, now: float,
               scores: np.ndarray | None = None) -> OnlineState:
        """The state after micro-batch `batch_id`.

        Args:
            state: the state after the previous micro-batch.
            X: the batch's clean events (rows x features); any order (taken in `ids` order).
            ids: their event ids (unique).
            batch_id: the micro-batch id; seeds every draw.
            now: the batch's newest event time (epoch seconds); how far it moved decays the reservoir.
            scores: the batch's online scores (all, or a bounded sample), for the threshold's ring.
        Returns:
            The new state; `state` is not changed.
        """
        if batch_id <= state.version:
            raise ValueError(f"batch {batch_id} is not after the state's version {state.version}")
        X, ids = np.asarray(X, dtype="float64"), np.asarray(ids).astype(str)
        order = np.argsort(ids, kind="stable")
        X, ids = X[order], ids[order]
        rng = np.random.default_rng([self.seed, batch_id])
        elapsed = max(0.0, now - state.clock) if math.isfinite(state.clock) else 0.0
        reservoir, reservoir_ids = self._admit(state, X, ids, elapsed, rng)
        new = replace(state, version=batch_id, clock=max(state.clock, now), reservoir=reservoir,
                      reservoir_ids=reservoir_ids)
        if scores is not None:
            new = _remember(new, np.asarray(scores, dtype="float64"))
        if len(reservoir) < self.min_events:
            return new
        if not state.ready:  # cold start: every group, and the ring seeded with the reservoir's scores
            groups = tuple(self._fit_group(reservoir, rng) for _ in range(self.groups))
            new = replace(new, groups=groups, fitted_at=np.full(self.groups, batch_id, dtype=np.int64))
            if new.ring_size == 0 or np.isnan(new.ring[:new.ring_size]).all():
                new = _remember(replace(new, ring_size=0, ring_next=0), self.score(new, reservoir))
        else:
            stale = np.argsort(state.fitted_at, kind="stable")[: self.refit_groups]
            groups, fitted_at = list(state.groups), state.fitted_at.copy()
            for g in stale:
                groups[g] = self._fit_group(reservoir, rng)
                fitted_at[g] = batch_id
            new = replace(new, groups=tuple(groups), fitted_at=fitted_at)
        return replace(new, threshold=self._threshold(new))

    def forget(self, state: OnlineState, ids: np.ndarray) -> OnlineState:
        """The state without the reservoir events whose ids are given (events labelled anomalous after they entered)."""
        keep = ~np.isin(state.reservoir_ids, np.asarray(ids).astype(str))
        if keep.all():
            return state
        return replace(state, reservoir=state.reservoir[keep], reservoir_ids=state.reservoir_ids[keep])

    def _admit(self, state: OnlineState, X: np.ndarray, ids: np.ndarray, elapsed: float,
               rng) -> tuple[np.ndarray, np.ndarray]:
        n, held, m = self.reservoir_size, len(state.reservoir), len(X)
        fresh = ~np.isin(ids, state.reservoir_ids)
        X, ids, m = X[fresh], ids[fresh], int(fresh.sum())
        room = min(n - held, m)
        take = np.sort(rng.choice(m, room, replace=False)) if room < m else np.arange(m)
        reservoir = np.vstack([state.reservoir, X[take]]) if room else state.reservoir.copy()
        reservoir_ids = np.concatenate([state.reservoir_ids, ids[take]]) if room else state.reservoir_ids.copy()
        if held + room < n or m == room:
            return reservoir, reservoir_ids
        rest = np.setdiff1d(np.arange(m), take, assume_unique=True)
        q = 1.0 - 0.5 ** (elapsed / self.half_life_seconds)
        slots = np.flatnonzero(rng.random(n) < q)
        if len(slots) > len(rest):  # fewer events than slots due: a random choice of the slots
            slots = np.sort(rng.choice(slots, len(rest), replace=False))
        chosen = rest[rng.choice(len(rest), len(slots), replace=False)]
        reservoir[slots], reservoir_ids[slots] = X[chosen], ids[chosen]
        return reservoir, reservoir_ids

    def _fit_group(self, reservoir: np.ndarray, rng) -> ExtendedIsolationForest:
        """One group's trees; axis-parallel ones are fitted by scikit-learn (compiled) and kept as node arrays."""
        level, seed = min(self.extension_level, reservoir.shape[1] - 1), int(rng.integers(2**31))
        trees = self.n_estimators // self.groups
        if level == 0:
            return ExtendedIsolationForest.from_sklearn(
                SkIsolationForest(n_estimators=trees, max_samples=self.max_samples, random_state=seed).fit(reservoir))
        return ExtendedIsolationForest(n_estimators=trees, max_samples=self.max_samples, extension_level=level,
                                       random_state=seed).fit(reservoir)

    def _threshold(self, state: OnlineState) -> float:
        recent = state.ring[: state.ring_size]
        recent = recent[~np.isnan(recent)]
        if len(recent) == 0:
            return math.nan
        if self.threshold_rule == "quantile":
            return float(np.quantile(recent, 1.0 - self.contamination))
        return median_plus_mad(recent, self.mad_c)


def median_plus_mad(values: np.ndarray, c: float) -> float:
    """median + c MAD of `values`, the MAD scaled to a standard deviation (x 1.4826); also the drift checks' rule."""
    median = float(np.median(values))
    return median + c * MAD_TO_SIGMA * float(np.median(np.abs(values - median)))


def _remember(state: OnlineState, scores: np.ndarray) -> OnlineState:
    """The state with `scores` written into its ring (the oldest overwritten)."""
    size = len(state.ring)
    scores = scores[-size:]
    if len(scores) == 0:
        return state
    ring = state.ring.copy()
    ring[(state.ring_next + np.arange(len(scores))) % size] = scores
    return replace(state, ring=ring, ring_size=min(size, state.ring_size + len(scores)),
                   ring_next=(state.ring_next + len(scores)) % size)

