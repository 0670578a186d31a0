"""The extended isolation forest on its own (numpy): the score's definition, feature subsets, reproducibility."""
import numpy as np
import pytest

from models.extended import ExtendedIsolationForest, average_path_length


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(0, 1, size=(2000, 4)), rng.uniform(5, 7, size=(10, 4))])


def test_score_is_two_to_the_minus_mean_path_over_c(data):
    forest = ExtendedIsolationForest(n_estimators=30, max_samples=64, extension_level=2, random_state=1).fit(data)
    leaves = forest.leaves(data[:50])
    depth = forest.path_[leaves].mean(axis=1)
    np.testing.assert_allclose(-forest.score_samples(data[:50]), 2.0 ** (-depth / average_path_length(64)), rtol=1e-12)
    scores = -forest.score_samples(data)
    assert scores[-10:].min() > np.quantile(scores[:-10], 0.99), "the far points rank above 99% of the normal ones"


def test_each_tree_cuts_only_on_its_drawn_features_and_level(data):
    forest = ExtendedIsolationForest(n_estimators=20, max_samples=64, extension_level=1, max_features=0.5,
                                     random_state=2).fit(data)
    internal = forest.left_ >= 0
    assert forest.feats_.shape[1] == 2, "extension level 1: two features per cut"
    roots = list(forest.roots_) + [len(forest.left_)]
    for start, end in zip(roots[:-1], roots[1:]):
        used = {int(f) for node in range(start, end) if internal[node]
                for f, w in zip(forest.feats_[node], forest.coefs_[node]) if w != 0}
        assert len(used) <= 2, "max_features 0.5 of 4: each tree sees two features"


def test_same_seed_same_forest(data):
    a = ExtendedIsolationForest(n_estimators=10, random_state=5).fit(data).score_samples(data)
    b = ExtendedIsolationForest(n_estimators=10, random_state=5).fit(data).score_samples(data)
    np.testing.assert_array_equal(a, b)


def test_defaults_are_the_model_sections():
    """As the Spark Estimator: the [model] defaults (lakehouse.config.ModelConfig), not scikit-learn's 100 x 256."""
    from lakehouse.config import ModelConfig

    forest, m = ExtendedIsolationForest(), ModelConfig()
    assert (forest.n_estimators, forest.max_samples, forest.extension_level, forest.max_features,
            forest.random_state) == (m.num_trees, m.max_samples, m.extension_level, m.max_features, m.seed)
