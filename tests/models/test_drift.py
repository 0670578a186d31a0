"""MMD drift checks on seeded streams: quiet on a stationary day, quick on a drift, rebased on a lasting shift."""
import numpy as np
import pytest

from models.drift import MMDDrift, mmd2

FEATURES = ["cpu", "mem", "temp"]
PER_MINUTE = 300  # clean events per one-minute micro-batch


def run(detector, minutes, centre=lambda minute: np.zeros(3), seed=0):
    """Feed `minutes` one-minute batches; returns the checks."""
    rng = np.random.default_rng(seed)
    state, checks = detector.initial_state(FEATURES), []
    for minute in range(minutes):
        X = rng.normal(size=(PER_MINUTE, 3)) + centre(minute)
        ids = np.array([f"{minute}-{i}" for i in range(PER_MINUTE)])
        state, check = detector.update(state, X, ids, minute, now=60.0 * minute)
        if check is not None:
            checks.append(check)
    return state, checks


def detector(**kw):
    return MMDDrift(**{"window": 300, "check_every": 1200, "min_check_seconds": 0, "c": 5.0, "warmup": 10, "seed": 1,
                       **kw})


def test_a_stationary_day_raises_at_most_one_false_flag():
    _, checks = run(detector(), minutes=24 * 60, seed=3)
    assert len(checks) > 300, "a check every four minutes"
    assert sum(c.flagged for c in checks) <= 1


def test_a_gradual_drift_is_flagged_within_15_minutes_and_names_the_moving_feature():
    onset = 120
    drift = lambda minute: np.array([0.0, 0.0, 0.05 * max(0, minute - onset)])  # temp: +0.05 sd a minute
    _, checks = run(detector(), minutes=onset + 30, centre=drift, seed=4)
    assert not any(c.flagged for c in checks if c.batch_id < onset)
    first = next(c for c in checks if c.flagged)
    assert first.batch_id - onset <= 15, first
    assert first.top_features[0] == "temp" and first.score > first.threshold


def test_a_lasting_shift_rebases_the_reference_once_and_is_then_normal():
    onset = 60
    shift = lambda minute: np.array([3.0, 0.0, 0.0]) if minute >= onset else np.zeros(3)
    state, checks = run(detector(persist_seconds=1800), minutes=onset + 120, centre=shift, seed=5)
    rebased = [c for c in checks if c.rebased]
    assert len(rebased) == 1 and 30 <= rebased[0].batch_id - onset <= 40, [(c.batch_id, c.flagged) for c in checks]
    assert rebased[0].drifting_seconds >= 1800
    assert not any(c.flagged for c in checks if c.batch_id > rebased[0].batch_id + 5), "the new normal is normal"
    assert abs(state.reference[:, 0].mean() - 3.0) < 0.3, "flagged windows never entered the reference before"


def test_a_replayed_batch_gives_the_same_check_and_state():
    d = detector()
    state, _ = run(d, minutes=30, seed=6)
    X = np.random.default_rng(7).normal(size=(PER_MINUTE, 3)) + 1.0
    ids = np.array([f"x-{i}" for i in range(PER_MINUTE)])
    order = np.random.default_rng(8).permutation(PER_MINUTE)
    for minute in range(30, 36):
        a, check_a = d.update(state, X, ids, minute, now=60.0 * minute)
        b, check_b = d.update(state, X[order], ids[order], minute, now=60.0 * minute)
        assert check_a == check_b and np.array_equal(a.reference, b.reference) and np.array_equal(a.window, b.window)
        state = a


def test_mmd_is_near_zero_for_one_distribution_and_grows_with_the_shift():
    rng = np.random.default_rng(0)
    same = mmd2(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)))
    near = mmd2(rng.normal(size=(300, 2)), rng.normal(0.5, 1, size=(300, 2)))
    far = mmd2(rng.normal(size=(300, 2)), rng.normal(2.0, 1, size=(300, 2)))
    assert abs(same) < 0.01 < near < far


@pytest.mark.parametrize("kwargs, message", [({"window": 5}, "window"), ({"c": 0}, "c must"),
                                             ({"warmup": 1}, "warmup"), ({"persist_seconds": 0}, "persist")])
def test_bad_parameters_are_refused_with_the_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MMDDrift(**kwargs)


def test_checks_keep_their_cadence_in_event_time_at_a_high_rate():
    d = MMDDrift(window=300, check_every=1000, min_check_seconds=240, seed=1)
    rng, state, checked = np.random.default_rng(9), d.initial_state(FEATURES), []
    for minute in range(30):  # 3,000 clean events a minute: check_every alone would check every minute
        X = rng.normal(size=(3000, 3))
        state, check = d.update(state, X, np.array([f"{minute}-{i}" for i in range(3000)]), minute, now=60.0 * minute)
        if check is not None:
            checked.append(minute)
    assert np.diff(checked).min() >= 4 and len(checked) >= 6, checked
