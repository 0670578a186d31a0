"""Extended isolation forest (Hariri, Carrasco Kind and Brunner, 2019): isolation by sloped cuts.

The isolation forest of Liu, Ting and Zhou cuts on one feature at a time, so its
score has artefacts along the axes and it misses anomalies that lie between
clusters or off a correlated direction. Here a cut at extension level e draws
e + 1 features of the node, a random direction over them and an intercept, and
sends each row left or right of the hyperplane. Level 0 is the axis-parallel
forest (isoguard serves that one with scikit-learn's trees, see models.forest).

Per node, the direction's coefficients are standard normal draws divided by the
node's standard deviation of each chosen feature, so that a cut weighs features
by their spread in the node, not by their units (a latency in milliseconds and a
CPU share in percent count alike); the intercept is uniform over the range of the
node's rows projected on that direction, so every cut splits the node. Trees
stop at depth ceil(log2(samples)) as in the original algorithm, and a leaf of n
rows adds c(n), the average path length of an unsuccessful search in a binary
search tree. `anomaly_score` = 2^(-E[h(x)] / c(samples)), like scikit-learn's
`-score_samples`.

Cost: fitting is numpy over at most numTrees x maxSamples rows (about a second for
100 trees of 256). Scoring walks every tree for every row in compiled code
(numba, compiled once per process and cached on disk), about the cost of
scikit-learn's `score_samples` on the same rows and tree count.

Explanations: the cut that isolated a row credits each of its features with the
share of the (standardised) direction that feature carries, divided by the
depth; summed over the trees, the features with most credit are the row's top
features, as models.explain does for axis-parallel trees.

>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(1000, 2))
>>> forest = ExtendedIsolationForest(n_estimators=50, extension_level=1, random_state=0).fit(X)
>>> scores = -forest.score_samples(np.array([[0.0, 0.0], [4.0, -4.0]]))
>>> bool(scores[1] > 0.6 > scores[0])
True
"""
from __future__ import annotations

import math

import numpy as np

from lakehouse.config import ModelConfig

try:  # compiled scoring; numpy fallback below keeps the same results without numba
    from numba import njit
except ImportError:  # pragma: no cover
    njit = None


def average_path_length(n: np.ndarray | int) -> np.ndarray:
    """c(n): the average path length of an unsuccessful search in a binary search tree of n nodes."""
    n = np.asarray(n, dtype="float64")
    out = np.zeros_like(n)
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    out[n == 2] = 1.0
    return out


def _traverse(X, feats, coefs, thresholds, left, right, path, roots, max_depth, leaves):  # pragma: no cover
    """E[h(x)] per row, tree by tree (one tree's nodes stay in cache), rows inside; with `leaves` of shape
    (rows, trees) it also records the leaf each row reaches in each tree (explanations), else pass (0, 0)."""
    rows, trees, width = X.shape[0], roots.shape[0], feats.shape[1]
    record = leaves.shape[0] > 0
    total = np.zeros(rows)
    for t in range(trees):
        for i in range(rows):
            node = roots[t]
            for _ in range(max_depth + 1):
                if left[node] < 0:
                    break
                z = 0.0
                for j in range(width):
                    z += X[i, feats[node, j]] * coefs[node, j]
                node = left[node] if z < thresholds[node] else right[node]
            total[i] += path[node]
            if record:
                leaves[i, t] = node
    return total / trees


_traverse = njit(cache=True, nogil=True)(_traverse) if njit else _traverse


class ExtendedIsolationForest:
    """scikit-learn-style estimator: parameters in __init__, fit returns self, learned state ends in `_`.

    The defaults are the `[model]` section's (lakehouse.config.ModelConfig), as the Estimator's are.

    Args:
        n_estimators: number of trees.
        max_samples: rows drawn (without replacement) for each tree.
        extension_level: features per cut minus one (0 = axis-parallel; at most n_features - 1).
        max_features: features drawn for each tree: a share in (0, 1] or a whole count.
        random_state: seed.
    """

    def __init__(self, n_estimators: int = ModelConfig.num_trees, max_samples: int = ModelConfig.max_samples,
                 extension_level: int = ModelConfig.extension_level, max_features: float | int = ModelConfig.max_features,
                 random_state: int = ModelConfig.seed):
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.extension_level = extension_level
        self.max_features = max_features
        self.random_state = random_state

    def fit(self, X: np.ndarray) -> "ExtendedIsolationForest":
        X = np.asarray(X, dtype="float64")
        rows, dims = X.shape
        if rows < 2:
            raise ValueError(f"cannot fit an isolation forest on {rows} rows")
        per_tree = self.max_features if isinstance(self.max_features, int) and self.max_features > 1 \
            else max(1, int(math.ceil(float(self.max_features) * dims)))
        per_tree = min(per_tree, dims)
        if not 0 <= self.extension_level <= dims - 1:
            raise ValueError(f"extensionLevel must be in [0, {dims - 1}] for {dims} features, got {self.extension_level}")
        width = min(self.extension_level + 1, per_tree)
        psi = min(self.max_samples, rows)
        depth_limit = int(math.ceil(math.log2(max(psi, 2))))
        rng = np.random.default_rng(self.random_state)
        nodes = _Nodes(width)
        roots = []
        for _ in range(self.n_estimators):
            features = np.sort(rng.choice(dims, per_tree, replace=False))
            sample = X[rng.choice(rows, psi, replace=False)][:, features]
            roots.append(nodes.grow(sample, features, width, depth_limit, rng))
        (self.feats_, self.coefs_, self.thresholds_, self.left_, self.right_, self.path_, self.weights_,
         self.depth_) = nodes.arrays()
        self.roots_ = np.asarray(roots, dtype=np.int64)
        self.parent_ = np.full(len(self.left_), -1, dtype=np.int64)
        internal = np.flatnonzero(self.left_ >= 0)
        self.parent_[self.left_[internal]] = internal
        self.parent_[self.right_[internal]] = internal
        self.max_depth_ = depth_limit
        self.n_features_in_ = dims
        self.max_samples_ = psi
        self.offset_ = float(average_path_length(psi))
        return self

    @classmethod
    def from_sklearn(cls, forest) -> "ExtendedIsolationForest":
        """scikit-learn's fitted IsolationForest as level-0 node arrays: the same scores, scored by `_traverse`.

        scikit-learn fits in compiled code, far faster than `fit`'s Python
        recursion, so a caller that refits often (models.online) fits with
        scikit-learn and keeps these arrays (plain numpy: no pickle to store).
        A row goes left when its value is <= the split; here when it is < the
        next float above it, which is the same test.
        """
        trees = [(e.tree_, np.asarray(f, dtype=np.int64)) for e, f in zip(forest.estimators_,
                                                                          forest.estimators_features_)]
        psi = int(forest.max_samples_)
        sizes = np.array([t.node_count for t, _ in trees])
        roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        feats, thresholds, left, right, path, depth = [], [], [], [], [], []
        for (tree, features), offset in zip(trees, roots):
            internal = tree.children_left >= 0
            feats.append(np.where(internal, features[np.maximum(tree.feature, 0)], 0))
            thresholds.append(np.where(internal, np.nextafter(tree.threshold, np.inf), 0.0))
            left.append(np.where(internal, tree.children_left + offset, -1))
            right.append(np.where(internal, tree.children_right + offset, -1))
            d = np.zeros(tree.node_count, dtype=np.int64)
            for node in range(tree.node_count):  # children always follow their parent in scikit-learn's arrays
                if internal[node]:
                    d[tree.children_left[node]] = d[tree.children_right[node]] = d[node] + 1
            depth.append(d)
            path.append(np.where(internal, 0.0, d + average_path_length(tree.n_node_samples)))
        out = cls(n_estimators=len(trees), max_samples=psi, extension_level=0)
        out.feats_ = np.concatenate(feats).astype(np.int64)[:, None]
        out.coefs_ = np.ones((len(out.feats_), 1))
        out.weights_ = np.ones((len(out.feats_), 1))
        out.thresholds_, out.path_ = np.concatenate(thresholds), np.concatenate(path)
        out.left_ = np.concatenate(left).astype(np.int64)
        out.right_ = np.concatenate(right).astype(np.int64)
        out.depth_ = np.concatenate(depth)
        out.roots_ = roots
        out.parent_ = np.full(len(out.left_), -1, dtype=np.int64)
        inner = np.flatnonzero(out.left_ >= 0)
        out.parent_[out.left_[inner]] = inner
        out.parent_[out.right_[inner]] = inner
        out.max_depth_ = int(out.depth_.max())
        out.n_features_in_ = int(forest.n_features_in_)
        out.max_samples_ = psi
        out.offset_ = float(average_path_length(psi))
        return out

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """(rows x trees) leaf node per row and tree."""
        X = np.ascontiguousarray(X, dtype="float64")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the forest was fitted on {self.n_features_in_}")
        leaves = np.empty((len(X), len(self.roots_)), dtype=np.int64)
        _traverse(X, self.feats_, self.coefs_, self.thresholds_, self.left_, self.right_, self.path_, self.roots_,
                  self.max_depth_, leaves)
        return leaves

    def mean_depths(self, X: np.ndarray) -> np.ndarray:
        """E[h(x)] per row: the mean path length over the trees (the score's exponent, before scaling by c(samples))."""
        if len(X) == 0:
            return np.zeros(0)
        X = np.ascontiguousarray(X, dtype="float64")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the forest was fitted on {self.n_features_in_}")
        return _traverse(X, self.feats_, self.coefs_, self.thresholds_, self.left_, self.right_, self.path_,
                         self.roots_, self.max_depth_, np.empty((0, 0), dtype=np.int64))

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Minus the anomaly score, as scikit-learn's IsolationForest.score_samples (lower = more anomalous)."""
        return -np.power(2.0, -self.mean_depths(X) / self.offset_)

    def credit(self, X: np.ndarray) -> np.ndarray:
        """(rows x features) isolation credit: each isolating cut's standardised weights over its depth."""
        leaves = self.leaves(X)
        credit = np.zeros((len(X), self.n_features_in_))
        cut = self.parent_[leaves]
        rows = np.repeat(np.arange(len(X))[:, None], leaves.shape[1], axis=1)
        ok = cut >= 0
        for j in range(self.feats_.shape[1]):
            np.add.at(credit, (rows[ok], self.feats_[cut[ok], j]),
                      self.weights_[cut[ok], j] / np.maximum(self.depth_[leaves[ok]], 1))
        return credit


class _Nodes:
    """Growable node arrays of all trees (one flat table; each tree's root index is kept)."""

    def __init__(self, width: int):
        self.width = width
        self.feats, self.coefs, self.weights = [], [], []
        self.thresholds, self.left, self.right, self.path, self.depth = [], [], [], [], []

    def _new(self, depth: int) -> int:
        self.feats.append(np.zeros(self.width, dtype=np.int64))
        self.coefs.append(np.zeros(self.width))
        self.weights.append(np.zeros(self.width))
        for column, value in ((self.thresholds, 0.0), (self.left, -1), (self.right, -1), (self.path, 0.0)):
            column.append(value)
        self.depth.append(depth)
        return len(self.left) - 1

    def grow(self, sample: np.ndarray, features: np.ndarray, width: int, limit: int, rng) -> int:
        root = self._new(0)
        stack = [(np.arange(len(sample)), root)]
        while stack:
            rows, node = stack.pop()
            depth, data = self.depth[node], sample[rows]
            cut = None
            if len(rows) > 1 and depth < limit:
                cut = self._cut(data, width, rng)
            if cut is None:
                self.path[node] = depth + float(average_path_length(len(rows)))
                continue
            chosen, coefs, weights, threshold, goes_left = cut
            self.feats[node][: len(chosen)] = features[chosen]
            self.coefs[node][: len(chosen)] = coefs
            self.weights[node][: len(chosen)] = weights
            self.thresholds[node] = threshold
            self.left[node], self.right[node] = self._new(depth + 1), self._new(depth + 1)
            stack.append((rows[goes_left], self.left[node]))
            stack.append((rows[~goes_left], self.right[node]))
        return root

    @staticmethod
    def _cut(data: np.ndarray, width: int, rng):
        """(features, coefficients, weights, threshold, rows going left), or None when the node cannot be cut."""
        spread = data.std(axis=0)
        live = np.flatnonzero(spread > 0)
        if len(live) == 0:
            return None
        chosen = rng.choice(live, min(width, len(live)), replace=False)
        direction = rng.normal(size=len(chosen)) if len(chosen) > 1 else np.ones(1)
        coefs = direction / spread[chosen]
        projected = data[:, chosen] @ coefs
        low, high = projected.min(), projected.max()
        if not low < high:
            return None
        threshold = rng.uniform(low, high)
        goes_left = projected < threshold
        weights = np.abs(direction) / np.abs(direction).sum()
        return chosen, coefs, weights, threshold, goes_left

    def arrays(self):
        return (np.vstack(self.feats), np.vstack(self.coefs), np.asarray(self.thresholds),
                np.asarray(self.left, dtype=np.int64), np.asarray(self.right, dtype=np.int64),
                np.asarray(self.path), np.vstack(self.weights), np.asarray(self.depth, dtype=np.int64))
