"""The compiled Robust Random Cut Forest: CoDisp against a worked example and the rrcf library, decay, bounds."""
import numpy as np
import pytest
from scipy.stats import spearmanr

from models.series.rcf import RandomCutForest

SLIDING = 1e6  # a time decay this large keeps exactly the last tree_size points (rrcf's streaming example)


def test_codisp_matches_the_worked_example():
    # 1-d points 0, 1, 100: the first cut, uniform over [0, 100], isolates 100 (CoDisp 2/1) unless it falls in
    # (0, 1) (probability 1/100), which leaves 100 beside 1 (CoDisp max(1/1, 1/2) = 1): E = 0.99*2 + 0.01*1 = 1.99
    forest = RandomCutForest(num_trees=4000, tree_size=8, seed=3)
    scores, contributions = forest.update(forest.initial_state(1), np.array([[0.0], [1.0], [100.0]]))
    assert scores[0] == 0.0 and scores[1] == pytest.approx(1.0)
    assert scores[2] == pytest.approx(1.99, abs=0.01)
    assert contributions[:, 0] == pytest.approx(scores)


def test_codisp_ranks_like_the_rrcf_library_on_the_same_stream():
    rrcf = pytest.importorskip("rrcf")
    rng = np.random.default_rng(7)
    x = np.sin(np.arange(160) / 6) + rng.normal(0, 0.05, 160)
    x[[60, 110]] += [2.5, -2.0]
    points = np.lib.stride_tricks.sliding_window_view(x, 2)
    window, trees = 32, 40
    reference = np.zeros(len(points))
    forest_ref = [rrcf.RCTree() for _ in range(trees)]
    np.random.seed(0)
    for i, p in enumerate(points):  # rrcf's own streaming example: insert, CoDisp, forget the oldest
        for tree in forest_ref:
            if len(tree.leaves) > window:
                tree.forget_point(i - window - 1)
            tree.insert_point(p, index=i)
            reference[i] += tree.codisp(i) / trees
    forest = RandomCutForest(num_trees=400, tree_size=window + 1, time_decay=SLIDING, seed=0)
    ours, _ = forest.update(forest.initial_state(2), points)
    # different random cuts, the same distribution: the per-point means agree in rank and level, up to the
    # noise of rrcf's 40-tree means (two 40-tree rrcf runs with seeds 0 and 1 agree to 0.76 on this stream;
    # ours with 400 trees agrees with seed 0 to 0.88; mean CoDisp 3.87 against rrcf's 3.85 and 4.04)
    assert spearmanr(ours[window:], reference[window:]).statistic > 0.75
    assert set(np.argsort(-ours)[:4]) & {59, 60, 109, 110} == set(np.argsort(-reference)[:4]) & {59, 60, 109, 110}
    assert np.mean(ours[window:]) == pytest.approx(np.mean(reference[window:]), rel=0.15)


def test_same_state_and_points_give_the_same_scores_however_they_are_split():
    points = np.random.default_rng(1).normal(size=(300, 3))
    forest = RandomCutForest(num_trees=10, tree_size=32, seed=5)
    whole = forest.initial_state(3)
    one, _ = forest.update(whole, points)
    split = forest.initial_state(3)
    parts = [forest.update(split, chunk)[0] for chunk in np.array_split(points, 7)]
    assert np.array_equal(one, np.concatenate(parts))
    assert all(np.array_equal(whole[name], split[name]) for name in whole)
    other_seed = RandomCutForest(num_trees=10, tree_size=32, seed=6)
    assert not np.array_equal(one, other_seed.update(other_seed.initial_state(3), points)[0])


def test_the_sample_stays_bounded_and_the_trees_consistent():
    forest = RandomCutForest(num_trees=5, tree_size=16, seed=2)
    state = forest.initial_state(2)
    points = np.round(np.random.default_rng(3).normal(size=(400, 2)), 1)  # many duplicates
    forest.update(state, points)
    assert (state["n_slots"] == 16).all()
    roots = state["root"]
    assert [state["mass"][t, roots[t]] for t in range(5)] == [16] * 5
    live = 2 * 16 + 2 - state["n_free"]
    assert (live <= 2 * 16 - 1).all()


def test_time_decay_forgets_an_old_regime():
    old, new = np.zeros((500, 1)), np.full((500, 1), 10.0)
    noise = np.random.default_rng(4).normal(0, 0.1, (1000, 1))
    points = np.vstack([old, new]) + noise
    for decay, expect_old in ((0.0, True), (0.05, False)):
        forest = RandomCutForest(num_trees=20, tree_size=32, time_decay=decay, seed=1)
        state = forest.initial_state(1)
        forest.update(state, points)
        leaves = state["cut_dim"] < 0
        kept_old = (np.abs(state["bmin"][..., 0]) < 1) & leaves & (state["mass"] > 0)
        assert bool(kept_old.any()) is expect_old


@pytest.mark.parametrize("kwargs, name", [({"num_trees": 0}, "num_trees"), ({"tree_size": 1}, "tree_size"),
                                          ({"time_decay": -1}, "time_decay")])
def test_bad_arguments_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RandomCutForest(**kwargs)
