"""The online forest: cold start, adaptation to a new normal, decay, replay from stored state, bounded size."""
import math

import numpy as np
import pytest

from models.online import OnlineForest, OnlineState

FEATURES = 3


def batch(rng, b: int, size: int = 500, centre: float = 0.0):
    X = rng.normal(centre, 1.0, size=(size, FEATURES))
    return X, np.array([f"b{b}-{i}" for i in range(size)])


SECONDS = 120.0  # event time between batches


def feed(forest, state, rng, batches, start=0, centre=0.0, size=500):
    for b in range(start, start + batches):
        X, ids = batch(rng, b, size, centre)
        state = forest.update(state, X, ids, b, now=SECONDS * b, scores=forest.score(state, X))
    return state


def test_scores_nothing_until_the_reservoir_holds_min_events_then_scores_at_once():
    forest = OnlineForest(reservoir_size=2000, min_events=1200, n_estimators=20, groups=4, seed=3)
    rng = np.random.default_rng(0)
    state = feed(forest, forest.initial_state(FEATURES), rng, 2)          # 1000 events
    assert not state.ready and np.isnan(forest.score(state, np.zeros((2, FEATURES)))).all()
    state = feed(forest, state, rng, 1, start=2)                           # 1500
    assert state.ready and state.version == 2 and not math.isnan(state.threshold)
    flagged = forest.score(state, batch(rng, 99, 5000)[0]) >= state.threshold
    assert 0.002 < flagged.mean() < 0.03, "about the target contamination (1%) of normal events is flagged"


def test_after_a_level_shift_false_alarms_return_to_the_target_within_a_few_batches():
    forest = OnlineForest(reservoir_size=2000, min_events=1000, n_estimators=40, groups=8, refit_groups=2, seed=1)
    rng = np.random.default_rng(1)
    state = feed(forest, forest.initial_state(FEATURES), rng, 10)
    frozen = state
    shifted = [batch(rng, 100 + b, centre=4.0)[0] for b in range(8)]
    rates = []
    for b, X in enumerate(shifted):  # the new normal is clean (nothing else flags it): it enters the reservoir
        rates.append(float((forest.score(state, X) >= state.threshold).mean()))
        state = forest.update(state, X, np.array([f"s{b}-{i}" for i in range(len(X))]), 10 + b,
                              now=SECONDS * (10 + b), scores=forest.score(state, X))
    assert rates[0] > 0.9, "right after the shift, the new normal looks anomalous"
    assert rates[-1] < 0.03, f"within 8 batches of 500 it is normal again: {rates}"
    still = (forest.score(frozen, shifted[-1]) >= frozen.threshold).mean()
    assert still > 0.9, "a model that does not learn keeps flagging it"


def test_the_reservoir_forgets_by_half_every_half_life_of_event_time_whatever_the_rate():
    n = 2000
    for size in (500, 5000):  # 500 or 5,000 events every two minutes
        forest = OnlineForest(reservoir_size=n, half_life_seconds=600, min_events=1000, n_estimators=10, groups=1,
                              seed=2)
        rng = np.random.default_rng(2)
        state = feed(forest, forest.initial_state(FEATURES), rng, 4, size=size)   # full, all "old"
        old = set(state.reservoir_ids)
        state = feed(forest, state, rng, 5, start=4, size=size)                   # 10 minutes later
        survived = np.mean([i in old for i in state.reservoir_ids])
        assert abs(survived - 0.5) < 0.05, (size, survived)
        assert len(state.reservoir) == n


def test_a_replayed_batch_from_the_stored_state_gives_the_same_scores_and_the_same_next_state():
    forest = OnlineForest(reservoir_size=1500, min_events=1000, n_estimators=20, groups=4, seed=5)
    rng = np.random.default_rng(5)
    state = feed(forest, forest.initial_state(FEATURES), rng, 5)
    stored = state.to_bytes()
    X, ids = batch(rng, 5)
    first = forest.update(state, X, ids, 5, now=600.0, scores=forest.score(state, X))
    restored = OnlineState.from_bytes(stored)
    shuffled = np.random.default_rng(9).permutation(len(X))                # another row order after a restart
    again = forest.update(restored, X[shuffled], ids[shuffled], 5, now=600.0, scores=forest.score(restored, X))
    probe = batch(rng, 6)[0]
    assert np.array_equal(forest.score(restored, probe), forest.score(state, probe))
    assert np.array_equal(forest.score(again, probe), forest.score(first, probe))
    assert again.to_bytes() == first.to_bytes()
    with pytest.raises(ValueError, match="not after"):
        forest.update(first, X, ids, 5, now=720.0)


def test_the_state_stays_the_same_size_however_long_the_stream():
    forest = OnlineForest(reservoir_size=1200, min_events=1000, n_estimators=20, groups=4, score_window=3000, seed=7)
    rng = np.random.default_rng(7)
    state = feed(forest, forest.initial_state(FEATURES), rng, 4)
    sizes = []
    for b in range(4, 24, 5):
        state = feed(forest, state, rng, 5, start=b)
        sizes.append(state.nbytes())
    assert max(sizes) < 1.2 * min(sizes), sizes
    assert len(state.to_bytes()) < 2 * state.nbytes()


def test_forget_drops_events_labelled_later():
    forest = OnlineForest(reservoir_size=1200, min_events=1000, n_estimators=10, groups=2, seed=4)
    state = feed(forest, forest.initial_state(FEATURES), np.random.default_rng(4), 3)
    labelled = state.reservoir_ids[:7]
    after = forest.forget(state, labelled)
    assert not np.isin(labelled, after.reservoir_ids).any() and len(after.reservoir) == len(state.reservoir) - 7


def test_the_mad_rule_flags_beyond_median_plus_c_mad():
    forest = OnlineForest(reservoir_size=1200, min_events=1000, n_estimators=20, groups=2, threshold_rule="mad",
                          mad_c=3.0, seed=6)
    state = feed(forest, forest.initial_state(FEATURES), np.random.default_rng(6), 4)
    recent = state.ring[: state.ring_size]
    median = np.median(recent)
    assert state.threshold == pytest.approx(median + 3.0 * 1.4826 * np.median(np.abs(recent - median)))


@pytest.mark.parametrize("kwargs, message", [
    ({"min_events": 100}, "min_events"),
    ({"n_estimators": 25, "groups": 10}, "multiple of groups"),
    ({"refit_groups": 0}, "refit_groups"),
    ({"contamination": 0.7}, "contamination"),
    ({"threshold_rule": "p99"}, "threshold_rule"),
])
def test_bad_parameters_are_refused_with_the_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OnlineForest(**kwargs)


def test_flagged_events_stay_out_unless_the_whole_batch_moved():
    forest = OnlineForest(shift_share=0.25)
    few = np.zeros(100, dtype=bool)
    few[:5] = True
    assert forest.admissible(few).sum() == 95, "a few flagged events (a persistent anomaly) stay out"
    most = np.ones(100, dtype=bool)
    most[:10] = False
    assert forest.admissible(most).all(), "a batch mostly flagged is a new normal: all of it enters"
