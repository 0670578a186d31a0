"""Drift detection: maximum mean discrepancy between recent clean events and a reference, judged by its own history.

Why: the champion and the online forest score single events; neither says that
the stream as a whole has moved. A fixed-window MMD test (as in hypothesis-free
reservoir drift detectors) compares the distribution of a window of recent
events with a reference sample, in all features at once.

Rule, per check (after `check_every` clean events and at least
`min_check_seconds` of event time since the last check, so that the cadence
suits 10 and 40,000 events a second alike):
- Both samples are standardised by the reference's mean and standard deviation.
- The kernel is an RBF, exp(-|x - y|^2 / h), with h the median squared
  pairwise distance of the pooled samples (the median heuristic); the score
  is the unbiased estimate of MMD^2 between the window and the reference.
- The check is flagged when the score exceeds median + c MAD (scaled by 1.4826)
  of the scores of earlier unflagged checks, once `warmup` of them exist.
- The features that moved most are ranked by how far the window's mean moved
  and how much its spread changed, in reference standard deviations (`moved`).
- An unflagged window joins the reference (a uniform reservoir of every
  unflagged window's events); a flagged one never does.
- Drift flagged without a break for `persist_seconds` of event time is a
  concept shift, not an alarm: the reference is rebased on the recent window
  and the check says `rebased` (the stream then triggers a retrain).

Invariants: `update` is a pure function of (state, batch, batch id, time):
draws are seeded by (seed, batch id), events are taken in id order, so a
replayed micro-batch gives the same checks and state. The state is bounded:
two samples of `window` rows and the last `history` scores.

Cost per check: O(window^2 x features) for the kernel (one MMD^2); nothing between checks but copying the batch's
(bounded) sample into the window.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> detector = MMDDrift(window=200, check_every=200, min_check_seconds=0, warmup=5, seed=1)
>>> state = detector.initial_state(["a", "b"])
>>> flags = []
>>> for b in range(30):
...     X = rng.normal(3.0 if b >= 20 else 0.0, 1.0, size=(200, 2))
...     state, check = detector.update(state, X, np.array([f"{b}-{i}" for i in range(200)]), b, now=60.0 * b)
...     flags.append(check is not None and check.flagged)
>>> flags.index(True), sum(flags[:20])
(20, 0)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from models.online import median_plus_mad

TOP_FEATURES = 3
MEDIAN_ROWS = 100  # rows of each sample the median heuristic looks at: its estimate settles long before


@dataclass(frozen=True)
class DriftCheck:
    """One comparison of the recent window with the reference: one row of the `drift` table."""

    batch_id: int
    checked_at: float       # event time of the check (epoch seconds)
    score: float            # MMD^2
    threshold: float        # median + c MAD of earlier unflagged scores (inf during warm-up)
    flagged: bool
    top_features: tuple     # the features that moved most, most first
    drifting_seconds: float  # how long drift has been flagged without a break, 0 when not flagged
    rebased: bool           # the reference was rebased on the window (a concept shift): retrain


@dataclass(frozen=True)
class DriftState:
    """What the detector keeps between micro-batches; replaced, never changed in place."""

    features: tuple
    version: int = -1
    reference: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    reference_seen: int = 0
    window: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    since_check: int = 0
    last_check: float = -math.inf
    history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    flagged_since: float = math.nan

    def nbytes(self) -> int:
        return int(self.reference.nbytes + self.window.nbytes + self.history.nbytes)


class MMDDrift:
    """Maximum-mean-discrepancy drift checks over a stream of clean events.

    Args:
        window: events in the recent window and in the reference.
        check_every: clean events between checks, at least.
        min_check_seconds: event time between checks, at least.
        c: c of median + c MAD.
        warmup: unflagged checks before any flag.
        history: scores of earlier unflagged checks kept.
        persist_seconds: flagged drift lasting this long rebases the reference.
        seed: seed of every draw (combined with the batch id).
    """

    def __init__(self, window: int = 1000, check_every: int = 1000, min_check_seconds: float = 30.0, c: float = 5.0,
                 warmup: int = 10, history: int = 200, persist_seconds: float = 3600.0, seed: int = 0):
        self.window, self.check_every, self.c, self.warmup = window, check_every, c, warmup
        self.min_check_seconds = min_check_seconds
        self.history, self.persist_seconds, self.seed = history, persist_seconds, seed
        for bad, message in [(window < 10, "window must be at least 10"), (check_every < 1, "check_every must be positive"),
                             (min_check_seconds < 0, "min_check_seconds must not be negative"),
                             (c <= 0, "c must be positive"), (warmup < 3, "warmup must be at least 3"),
                             (history < warmup, "history must be at least warmup"),
                             (persist_seconds <= 0, "persist_seconds must be positive")]:
            if bad:
                raise ValueError(message)

    def initial_state(self, features: list[str]) -> DriftState:
        d = len(features)
        return DriftState(features=tuple(features), reference=np.zeros((0, d)), window=np.zeros((0, d)))

    def update(self, state: DriftState, X: np.ndarray, ids: np.ndarray, batch_id: int,
               now: float) -> tuple[DriftState, DriftCheck | None]:
        """The state after micro-batch `batch_id`, and its check when one was due.

        Args:
            X: the batch's clean events (or a bounded uniform sample of them), rows x features.
            ids: their ids (the row order is taken from them).
            now: the batch's event time (epoch seconds), for how long drift lasts.
        """
        if batch_id <= state.version:
            raise ValueError(f"batch {batch_id} is not after the state's version {state.version}")
        X = np.asarray(X, dtype="float64")[np.argsort(np.asarray(ids).astype(str), kind="stable")]
        rng = np.random.default_rng([self.seed, batch_id])
        window = np.vstack([state.window, X])[-self.window:]
        state = replace(state, version=batch_id, window=window, since_check=state.since_check + len(X))
        if len(state.reference) < self.window:  # the first events fill the reference
            state = self._absorb(state, X, rng)
            return replace(state, window=np.zeros((0, X.shape[1])), since_check=0), None
        due = state.since_check >= self.check_every and now - state.last_check >= self.min_check_seconds
        if not due or len(window) < self.window:
            return state, None
        return self._check(state, batch_id, now, rng)

    def _check(self, state: DriftState, batch_id: int, now: float, rng) -> tuple[DriftState, DriftCheck]:
        mean, std = state.reference.mean(axis=0), state.reference.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        ref, win = (state.reference - mean) / std, (state.window - mean) / std
        score = mmd2(ref, win)
        top = tuple(state.features[j] for j in np.argsort(-moved(ref, win), kind="stable")[:TOP_FEATURES])
        threshold = math.inf
        if len(state.history) >= self.warmup:
            threshold = median_plus_mad(state.history, self.c)
        flagged = score > threshold
        state = replace(state, since_check=0, last_check=now)
        if not flagged:
            state = self._absorb(state, state.window, rng)
            state = replace(state, history=np.append(state.history, score)[-self.history:], flagged_since=math.nan)
            return state, DriftCheck(batch_id, now, score, threshold, False, top, 0.0, False)
        since = now if math.isnan(state.flagged_since) else state.flagged_since
        lasting = now - since
        rebased = lasting >= self.persist_seconds
        if rebased:
            state = replace(state, reference=state.window.copy(), reference_seen=len(state.window),
                            flagged_since=math.nan)
        else:
            state = replace(state, flagged_since=since)
        return state, DriftCheck(batch_id, now, score, threshold, True, top, lasting, rebased)

    def _absorb(self, state: DriftState, X: np.ndarray, rng) -> DriftState:
        """The reference after taking X in: a uniform reservoir (Algorithm R) of every event absorbed."""
        reference, seen = state.reference.copy(), state.reference_seen
        room = max(0, self.window - len(reference))
        reference = np.vstack([reference, X[:room]])
        seen += min(room, len(X))
        for row in X[room:]:
            seen += 1
            slot = int(rng.integers(seen))
            if slot < self.window:
                reference[slot] = row
        return replace(state, reference=reference, reference_seen=seen)


def moved(reference: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Per feature of standardised samples: |shift of the mean| + |log ratio of the standard deviations|."""
    spread = np.maximum(window.std(axis=0), 1e-9) / np.maximum(reference.std(axis=0), 1e-9)
    return np.abs(window.mean(axis=0) - reference.mean(axis=0)) + np.abs(np.log(spread))


def mmd2(X: np.ndarray, Y: np.ndarray) -> float:
    """Unbiased MMD^2 between samples X and Y with an RBF kernel, bandwidth by the median heuristic."""
    pooled = np.vstack([X, Y])
    distances = np.zeros((len(pooled), len(pooled)))
    for column in pooled.T:  # per feature, not a BLAS product: exact, and no thread pool for a small matrix
        distances += np.square(column[:, None] - column[None, :])
    head = np.r_[0:min(len(X), MEDIAN_ROWS), len(X):len(X) + min(len(Y), MEDIAN_ROWS)]  # the heuristic's sample
    off = distances[np.ix_(head, head)][np.triu_indices(len(head), k=1)]
    bandwidth = float(np.median(off[off > 0])) if np.any(off > 0) else 1.0
    kernel = np.exp(-distances / bandwidth)
    n, m = len(X), len(Y)
    kxx, kyy, kxy = kernel[:n, :n], kernel[n:, n:], kernel[:n, n:]
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2.0 * kxy.mean())
