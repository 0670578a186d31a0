"""Per-event explanation: which features isolate a point.

In every tree, the split just above the leaf a point falls into is the one that
isolated it; its feature earns credit 1/depth (isolated sooner, more credit).
Summed over the trees, the features with the most credit are the point's top
contributing features. A point extreme in one feature is isolated by splits on
that feature in most trees, so that feature comes first.

>>> import numpy as np
>>> from sklearn.ensemble import IsolationForest
>>> X = np.random.default_rng(0).normal(size=(500, 3))
>>> forest = IsolationForest(random_state=0).fit(X)
>>> ForestExplainer(forest, ["a", "b", "c"]).top_features(np.array([[0.0, 9.0, 0.0]]))[0][0]
'b'
"""
from __future__ import annotations

import numpy as np

TOP_K = 3


def top_features(credit: np.ndarray, names: list[str], k: int = TOP_K) -> list[list[str]]:
    """Per row, the names of the (at most k) features with the most credit, most first; none without credit."""
    order = np.argsort(-credit, axis=1, kind="stable")[:, :k]
    return [[names[j] for j in row if credit[i, j] > 0] for i, row in enumerate(order)]


def explainer_for(forest, feature_names: list[str], k: int = TOP_K):
    """The explainer for a fitted forest: scikit-learn's trees, or any forest with a `credit(X)` method."""
    return CreditExplainer(forest, feature_names, k) if hasattr(forest, "credit") else \
        ForestExplainer(forest, feature_names, k)


class CreditExplainer:
    """Top features from a forest that computes its own isolation credit (the extended forest: cut weights)."""

    def __init__(self, forest, feature_names: list[str], k: int = TOP_K):
        self.forest, self.names, self.k = forest, list(feature_names), k

    def top_features(self, X: np.ndarray) -> list[list[str]]:
        return top_features(self.forest.credit(X), self.names, self.k)


class ForestExplainer:
    """Top contributing features of rows, for a fitted scikit-learn IsolationForest."""

    def __init__(self, forest, feature_names: list[str], k: int = TOP_K):
        self.forest, self.names, self.k = forest, list(feature_names), k
        self._parents = [self._parent_of(tree.tree_) for tree in forest.estimators_]

    @staticmethod
    def _parent_of(tree) -> np.ndarray:
        parent = np.full(tree.node_count, -1, dtype=np.int64)
        internal = np.flatnonzero(tree.children_left >= 0)
        parent[tree.children_left[internal]] = internal
        parent[tree.children_right[internal]] = internal
        return parent

    def credit(self, X: np.ndarray) -> np.ndarray:
        """(rows x features) isolation credit."""
        credit = np.zeros((len(X), len(self.names)))
        rows = np.arange(len(X))
        for tree, features, depths, parent in zip(self.forest.estimators_, self.forest.estimators_features_,
                                                  self.forest._decision_path_lengths, self._parents):
            leaves = tree.apply(X[:, features])
            split = parent[leaves]
            isolated = split >= 0
            feature = np.asarray(features)[tree.tree_.feature[np.where(isolated, split, 0)]]
            np.add.at(credit, (rows[isolated], feature[isolated]), 1.0 / np.maximum(depths[leaves][isolated], 1))
        return credit

    def top_features(self, X: np.ndarray) -> list[list[str]]:
        return top_features(self.credit(X), self.names, self.k)
