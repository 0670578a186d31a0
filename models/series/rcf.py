"""Robust Random Cut Forest (Guha, Mishra, Roy and Schrijvers, 2016) on shingles, compiled with numba.

Why not the `rrcf` library: it builds one Python object per node, and scoring a
point means inserting it into every tree, reading its collusive displacement and
forgetting the oldest point, all in Python. Measured on this machine with
shingle 4, 50 trees of 256 (benchmarks/series.py), it runs at 70-80 points
per second of CPU, two orders of magnitude short of the 5,000 events/s target
(this forest: about 13,000 on the same points). This module keeps every tree as flat arrays (children, parent,
cut, mass, bounding box per node) and runs insert, CoDisp and forget for all
trees in one compiled loop.

Algorithm, per point p and per tree (the same as `rrcf.RCTree.insert_point`,
`codisp` and `forget_point`):

- insert: from the root, extend the node's bounding box with p, draw r uniform
  over the box's total span, pick the first dimension whose cumulative span
  reaches r and cut there; if the cut separates p from the node's box, p becomes
  a new leaf beside the node, otherwise descend to the child on p's side. A
  point equal to a leaf's point adds to that leaf's mass (duplicates are common
  on flat series);
- CoDisp: walking from p's leaf to the root, the largest ratio of the sibling's
  mass to the node's mass; the forest's score is the mean over trees;
- contribution: each tree credits its CoDisp to the dimension of the cut at the
  level that gave the largest ratio (the cut that displaced most points), so a
  point's contributions sum to its score; on a shingle the dimensions are the
  lags, oldest first;
- forget: remove the leaf (or lower its mass) and tighten the boxes above it.

Sample and time decay (the Kinesis/AWS RCF sampler): each tree keeps at most
`tree_size` points. The point with sequence number s gets, per tree, the
priority -time_decay * s + log(-log(u)), u uniform; a tree keeps the points of
lowest priority, so a new point enters a full tree when it beats the tree's
worst, which is then forgotten. time_decay = 0 keeps a uniform sample of the
whole history; a large time_decay keeps the last `tree_size` points (the
sliding window of rrcf's streaming example); the default, 1/(10 tree_size) as
in AWS's RCF, keeps points for about 10 tree sizes. A point that does not enter
a tree is scored by inserting it, reading its CoDisp and forgetting it.

Determinism: every random draw is a hash of (seed, sequence number, tree,
draw), not a generator's state, so the forest's state is its arrays and the
sequence number; the same state and the same points give the same scores and
the same next state, whatever happened in between (a restart, another process).

Points are kept as float32 (the state's size halves; a shingle's values are
cut at float32 precision, about 7 digits), cut values as float64, node
indices as int16 (so tree_size <= 16,382).

Cost: per point and tree, one descent (about 2 log2(tree_size) nodes, each a
pass over the d dimensions), one walk up for CoDisp and one for the forget, and
when a point enters a full tree, a pass over its `tree_size` priorities to find
the next to leave. State: (2 tree_size + 2) nodes per tree, each with two
float32 boxes of d values, a float64 cut and five int16 links, plus 10 bytes
per sample slot: num_trees * ((2 tree_size + 2) * (8 d + 20) + 10 tree_size)
bytes, 1.46 MB for 50 trees of 256 on shingles of 4: per-key forests of that
size suit thousands of keys, not hundreds of thousands.

>>> import numpy as np
>>> forest = RandomCutForest(num_trees=40, tree_size=64, seed=0)
>>> state = forest.initial_state(dimensions=2)
>>> X = np.random.default_rng(0).normal(size=(200, 2))
>>> X[150] = [8.0, 0.0]
>>> scores, contributions = forest.update(state, X)
>>> int(np.argmax(scores[100:])) + 100, int(np.argmax(contributions[150]))
(150, 0)
>>> bool(np.allclose(contributions.sum(axis=1), scores))
True
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

_ARRAYS = ("left", "right", "parent", "cut_dim", "cut_val", "mass", "bmin", "bmax", "root", "free", "n_free",
           "slot_leaf", "slot_key", "n_slots", "worst", "seq")
_INDEX = np.int16  # node indices, masses and dimensions: a tree has at most 2 MAX_TREE_SIZE + 2 nodes
_BOX = np.float32  # points and bounding boxes: half the state of float64; cuts stay float64
MAX_TREE_SIZE = (np.iinfo(_INDEX).max - 2) // 2
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_SEQ = np.uint64(0xD6E8FEB86659FD93)
_TREE = np.uint64(0xA0761D6478BD642F)
_DRAW = np.uint64(0xE7037ED1A0B428DB)


@njit(cache=True, nogil=True)
def _uniform(seed, seq, tree, draw):  # pragma: no cover - compiled
    """A uniform draw in (0, 1) from a hash of its coordinates (splitmix64's finaliser)."""
    z = seed ^ (np.uint64(seq) * _SEQ) ^ (np.uint64(tree) * _TREE) ^ (np.uint64(draw) * _DRAW)
    z = z + _M1
    z = (z ^ (z >> np.uint64(30))) * _M2
    z = (z ^ (z >> np.uint64(27))) * _M3
    z = z ^ (z >> np.uint64(31))
    return (float(z >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _alloc(t, free, n_free):  # pragma: no cover - compiled
    n_free[t] -= 1
    return free[t, n_free[t]]


@njit(cache=True, nogil=True)
def _relink(t, above, old, new, left, right, root):  # pragma: no cover - compiled
    """Put `new` where `old` hung under `above` (at the root when `above` is -1)."""
    if above < 0:
        root[t] = new
    elif left[t, above] == old:
        left[t, above] = new
    else:
        right[t, above] = new


@njit(cache=True, nogil=True)
def _insert(t, p, seed, seq, left, right, parent, cut_dim, cut_val, mass, bmin, bmax, root, free, n_free,
            span):  # pragma: no cover - compiled
    """Insert point p into tree t; returns its leaf."""
    d = p.shape[0]
    if root[t] < 0:
        leaf = _alloc(t, free, n_free)
        cut_dim[t, leaf] = -1
        mass[t, leaf] = 1
        parent[t, leaf] = -1
        bmin[t, leaf, :] = p
        bmax[t, leaf, :] = p
        root[t] = leaf
        return leaf
    node = root[t]
    while cut_dim[t, node] >= 0:
        node = left[t, node] if p[cut_dim[t, node]] <= cut_val[t, node] else right[t, node]
    same = True
    for k in range(d):
        if bmin[t, node, k] != p[k]:
            same = False
            break
    if same:  # a duplicate: the leaf's mass grows, no new node
        n = node
        while n >= 0:
            mass[t, n] += 1
            n = parent[t, n]
        return node
    node = root[t]
    above = -1
    draw = 0
    while True:
        total = 0.0
        for k in range(d):
            span[k] = max(bmax[t, node, k], p[k]) - min(bmin[t, node, k], p[k])
            total += span[k]
        r = _uniform(seed, seq, t, draw) * total
        draw += 1
        acc = 0.0
        dim = d - 1
        for k in range(d):
            acc += span[k]
            if acc >= r:
                dim = k
                break
        cut = min(bmin[t, node, dim], p[dim]) + acc - r
        if cut <= bmin[t, node, dim] or cut >= bmax[t, node, dim]:
            break
        above = node
        node = left[t, node] if p[cut_dim[t, node]] <= cut_val[t, node] else right[t, node]
    leaf = _alloc(t, free, n_free)
    cut_dim[t, leaf] = -1
    mass[t, leaf] = 1
    bmin[t, leaf, :] = p
    bmax[t, leaf, :] = p
    branch = _alloc(t, free, n_free)
    cut_dim[t, branch] = dim
    cut_val[t, branch] = cut
    if cut <= bmin[t, node, dim]:
        left[t, branch], right[t, branch] = leaf, node
    else:
        left[t, branch], right[t, branch] = node, leaf
    mass[t, branch] = mass[t, node] + 1
    for k in range(d):
        bmin[t, branch, k] = min(bmin[t, node, k], p[k])
        bmax[t, branch, k] = max(bmax[t, node, k], p[k])
    parent[t, leaf] = branch
    parent[t, node] = branch
    parent[t, branch] = above
    _relink(t, above, node, branch, left, right, root)
    n = above
    while n >= 0:
        mass[t, n] += 1
        for k in range(d):
            bmin[t, n, k] = min(bmin[t, n, k], p[k])
            bmax[t, n, k] = max(bmax[t, n, k], p[k])
        n = parent[t, n]
    return leaf


@njit(cache=True, nogil=True)
def _forget(t, leaf, left, right, parent, mass, bmin, bmax, root, free, n_free):  # pragma: no cover - compiled
    """Remove one unit of mass at `leaf` from tree t, dropping the leaf when it was its last."""
    if mass[t, leaf] > 1:
        n = leaf
        while n >= 0:
            mass[t, n] -= 1
            n = parent[t, n]
        return
    above = parent[t, leaf]
    free[t, n_free[t]] = leaf
    n_free[t] += 1
    if above < 0:
        root[t] = -1
        return
    sibling = right[t, above] if left[t, above] == leaf else left[t, above]
    grand = parent[t, above]
    parent[t, sibling] = grand
    _relink(t, grand, above, sibling, left, right, root)
    free[t, n_free[t]] = above
    n_free[t] += 1
    n = grand
    while n >= 0:
        mass[t, n] -= 1
        a, b = left[t, n], right[t, n]
        for k in range(bmin.shape[2]):
            bmin[t, n, k] = min(bmin[t, a, k], bmin[t, b, k])
            bmax[t, n, k] = max(bmax[t, a, k], bmax[t, b, k])
        n = parent[t, n]


@njit(cache=True, nogil=True)
def _codisp(t, leaf, left, right, parent, cut_dim, mass):  # pragma: no cover - compiled
    """(CoDisp of the leaf in tree t, the dimension of the cut that gave it; -1 for a lone root)."""
    node = leaf
    best = 0.0
    best_dim = -1
    while parent[t, node] >= 0:
        above = parent[t, node]
        sibling = right[t, above] if left[t, above] == node else left[t, above]
        ratio = mass[t, sibling] / mass[t, node]
        if ratio > best:
            best = ratio
            best_dim = cut_dim[t, above]
        node = above
    return best, best_dim


@njit(cache=True, nogil=True)
def _update(points, seed, decay, left, right, parent, cut_dim, cut_val, mass, bmin, bmax, root, free, n_free,
            slot_leaf, slot_key, n_slots, worst, seq, scores, contributions):  # pragma: no cover - compiled
    trees, size = slot_key.shape
    span = np.empty(points.shape[1])
    for i in range(points.shape[0]):
        p = points[i]
        s = seq[0]
        seq[0] += 1
        for t in range(trees):
            key = -decay * s + math.log(-math.log(_uniform(seed, s, t, 1 << 20)))
            slot = n_slots[t]
            if slot < size:
                n_slots[t] += 1
                accept = True
            else:
                slot = worst[t]
                accept = key < slot_key[t, slot]
                if accept:
                    _forget(t, slot_leaf[t, slot], left, right, parent, mass, bmin, bmax, root, free, n_free)
            leaf = _insert(t, p, seed, s, left, right, parent, cut_dim, cut_val, mass, bmin, bmax, root, free,
                           n_free, span)
            score, dim = _codisp(t, leaf, left, right, parent, cut_dim, mass)
            scores[i] += score / trees
            if dim >= 0:
                contributions[i, dim] += score / trees
            if accept:
                slot_leaf[t, slot] = leaf
                slot_key[t, slot] = key
                if n_slots[t] == size:  # the slot of the highest priority, the next to leave
                    w = 0
                    for j in range(1, size):
                        if slot_key[t, j] > slot_key[t, w]:
                            w = j
                    worst[t] = w
            else:
                _forget(t, leaf, left, right, parent, mass, bmin, bmax, root, free, n_free)


class RandomCutForest:
    """A per-key Robust Random Cut Forest: `update` scores points (CoDisp) and learns them, in order.

    Args:
        num_trees: trees in the forest (> 0).
        tree_size: points each tree keeps (> 1).
        time_decay: how fast old points leave the sample (>= 0; None = 1 / (10 tree_size)).
        seed: any integer; with the state's sequence number it fixes every draw.
    """

    def __init__(self, num_trees: int = 50, tree_size: int = 256, time_decay: float | None = None, seed: int = 0):
        if int(num_trees) < 1:
            raise ValueError(f"num_trees must be at least 1, got {num_trees}")
        if not 2 <= int(tree_size) <= MAX_TREE_SIZE:
            raise ValueError(f"tree_size must be between 2 and {MAX_TREE_SIZE}, got {tree_size}")
        if time_decay is not None and not float(time_decay) >= 0:
            raise ValueError(f"time_decay must be >= 0, got {time_decay}")
        self.num_trees = int(num_trees)
        self.tree_size = int(tree_size)
        self.time_decay = 1.0 / (10 * self.tree_size) if time_decay is None else float(time_decay)
        self.seed = int(seed)

    def initial_state(self, dimensions: int) -> dict[str, np.ndarray]:
        """An empty forest for points of `dimensions` values, as named arrays (what `update` changes in place)."""
        t, nodes = self.num_trees, 2 * self.tree_size + 2
        i, box = _INDEX, _BOX
        return {"left": np.full((t, nodes), -1, i), "right": np.full((t, nodes), -1, i),
                "parent": np.full((t, nodes), -1, i), "cut_dim": np.full((t, nodes), -1, i),
                "cut_val": np.zeros((t, nodes)), "mass": np.zeros((t, nodes), i),
                "bmin": np.zeros((t, nodes, dimensions), box), "bmax": np.zeros((t, nodes, dimensions), box),
                "root": np.full(t, -1, i), "free": np.tile(np.arange(nodes - 1, -1, -1, dtype=i), (t, 1)),
                "n_free": np.full(t, nodes, i), "slot_leaf": np.full((t, self.tree_size), -1, i),
                "slot_key": np.zeros((t, self.tree_size)), "n_slots": np.zeros(t, i), "worst": np.zeros(t, i),
                "seq": np.zeros(1, np.int64)}

    def update(self, state: dict[str, np.ndarray], points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score each point (rows, in order) by its CoDisp, then keep it per the sample; changes `state` in place.

        Returns:
            (scores, contributions): CoDisp per point, mean over trees; and per point and dimension the share
            of it credited to that dimension (rows sum to the score).
        """
        points = np.ascontiguousarray(points, dtype=_BOX)
        if points.ndim != 2 or points.shape[1] != state["bmin"].shape[2]:
            raise ValueError(f"points must have shape (n, {state['bmin'].shape[2]}), got {points.shape}")
        scores = np.zeros(len(points))
        contributions = np.zeros(points.shape)
        _update(points, np.uint64(self.seed & 0xFFFFFFFFFFFFFFFF), self.time_decay,
                *(state[name] for name in _ARRAYS), scores, contributions)
        return scores, contributions

