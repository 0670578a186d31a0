"""The per-key detector the stream's keyed state calls: replay, row order, late events, bounded state, settings."""
import numpy as np
import pandas as pd
import pytest

from models.series.detector import SeriesDetector, combine

SMALL = dict(num_trees=10, tree_size=32, min_history=30, season_period_seconds=3600, season_bins=12)


def key_events(n=240, seed=0, spike_at=200):
    rng = np.random.default_rng(seed)
    t = pd.date_range("2026-11-02", periods=n, freq="1min")
    v = 5 + np.sin(np.arange(n) * 2 * np.pi / 60) + rng.normal(0, 0.05, n)
    v[spike_at] += 3
    return pd.DataFrame({"event_time": t, "value": v, "id": np.arange(n)})


def run(detector, events, batch, blob=None):
    parts = []
    for start in range(0, len(events), batch):
        scored, blob = detector.update(blob, events.iloc[start:start + batch], order_col="id")
        parts.append(scored)
    return pd.concat(parts, ignore_index=True), blob


def test_batch_sizes_do_not_change_scores_or_the_next_state():
    detector, events = SeriesDetector(**SMALL), key_events()
    one, blob_one = run(detector, events, len(events))
    many, blob_many = run(detector, events, 7)
    pd.testing.assert_frame_equal(one, many)
    assert blob_one == blob_many
    assert len(blob_one) == detector.state_size()
    assert one.loc[one["score"].idxmax(), "id"] == 200 and one["score"].max() > 0.99


def test_row_order_inside_a_batch_does_not_change_scores_or_the_next_state():
    detector, events = SeriesDetector(**SMALL), key_events()
    _, blob = run(detector, events.iloc[:150], 150)
    shuffled = events.iloc[150:].sample(frac=1.0, random_state=3)
    a, blob_a = detector.update(blob, events.iloc[150:], order_col="id")
    b, blob_b = detector.update(blob, shuffled, order_col="id")
    pd.testing.assert_frame_equal(a, b)
    assert blob_a == blob_b


def test_the_state_round_trips_and_a_restart_from_it_replays_the_same_scores():
    detector, events = SeriesDetector(**SMALL), key_events()
    _, blob = run(detector, events.iloc[:120], 40)
    assert detector.to_bytes(detector.from_bytes(blob)) == blob
    first, _ = run(detector, events.iloc[120:], 40, blob)
    again, _ = run(SeriesDetector(**SMALL), events.iloc[120:], 40, blob)  # a new process, the stored blob
    pd.testing.assert_frame_equal(first, again)


def test_a_late_event_is_flagged_not_learnt_and_leaves_later_scores_alone():
    detector, events = SeriesDetector(**SMALL), key_events()
    _, blob = run(detector, events.iloc[:150], 50)
    late = events.iloc[[100]].assign(id=999, value=50.0)   # older than the key's newest event, far out
    scored, with_late = detector.update(blob, pd.concat([late, events.iloc[150:160]]), order_col="id")
    row = scored.loc[scored["id"] == 999].iloc[0]
    assert bool(row["late"]) and row["score_rcf"] == 0.0 and row["score_zscore"] > 0.99
    after_late, _ = run(detector, events.iloc[160:], 40, with_late)
    _, without = detector.update(blob, events.iloc[150:160], order_col="id")
    after_clean, _ = run(detector, events.iloc[160:], 40, without)
    pd.testing.assert_frame_equal(after_late, after_clean)
    assert int(detector.from_bytes(with_late)["shingle"]["late"][0]) == 1


def test_scores_are_comparable_across_keys_of_different_scales():
    detector, events = SeriesDetector(**SMALL), key_events()
    small, _ = run(detector, events, 60)
    big, _ = run(detector, events.assign(value=events["value"] * 1024), 60)
    assert np.array_equal(small["score"], big["score"])


def test_the_state_size_is_fixed_by_the_settings_not_the_stream():
    detector = SeriesDetector(**SMALL)
    _, short = run(detector, key_events(60, spike_at=30), 60)
    _, long = run(detector, key_events(600, spike_at=300), 60)
    assert len(short) == len(long) == detector.state_size()
    other = SeriesDetector(**(SMALL | {"tree_size": 16}))
    with pytest.raises(ValueError, match="settings changed"):
        other.update(long, key_events(5, spike_at=1))


@pytest.mark.parametrize("section, name", [({"num_tres": 5}, "num_tres"), ({"tree_size": 1}, "tree_size"),
                                           ({"imputation": "mean"}, "imputation"),
                                           ({"detectors": ["rcf", "lstm"]}, "detectors"),
                                           ({"zscore_forgetting": 0}, "forgetting"),
                                           ({"ensemble": "vote"}, "ensemble")])
def test_bad_settings_give_an_error_naming_the_key(section, name):
    with pytest.raises(ValueError, match=name):
        SeriesDetector.from_config(section)


def test_the_ensemble_rules():
    scores = np.array([[0.999, 0.2, 0.0], [0.5, 0.5, 0.9]])
    ready = np.array([[True, True, False], [True, True, True]])
    assert combine(scores, ready, "bonferroni") == pytest.approx([0.998, 0.7])
    assert combine(scores, ready, "max") == pytest.approx([0.999, 0.9])
    assert combine(scores, ready, "mean") == pytest.approx([0.5995, 0.633333])
    assert combine(scores, np.zeros_like(ready), "max").tolist() == [0.0, 0.0]


@pytest.mark.parametrize("section, name", [({"num_trees": "many"}, "num_trees"), ({"imputation": 3}, "imputation"),
                                           ({"detectors": "rcf"}, "detectors"), ({"seed": True}, "seed")])
def test_settings_of_the_wrong_type_name_the_key(section, name):
    with pytest.raises(ValueError, match=f"'{name}' must be"):
        SeriesDetector.from_config(section)


def test_a_detector_left_out_keeps_no_state():
    assert SeriesDetector(detectors=("zscore",)).state_size() < SeriesDetector(detectors=("zscore", "seasonal")
                                                                                ).state_size() < 10_000
