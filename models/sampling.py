"""Uniform, reproducible row sampling and splitting: the same rows in Spark and in numpy.

Every row gets a 64-bit key, Spark's `xxhash64(row_id, seed)`; `row_keys` is the
same function in numpy (a port of Spark's XXH64.hashLong, checked against Spark
by a test). A sample of `size` rows is the rows with the `size` smallest keys,
so every subset of that size is equally likely whatever the partition order (a
sampler that cuts by position, such as Bernoulli then `limit`, drops the last
partitions: the anomalies of a label-ordered file, the last hours of a day).
Because the keys depend only on the row id and the seed, a frame evaluated in
Spark and the same rows evaluated in numpy draw the same sample and the same
split, which is what lets `isoguard evaluate` run small inputs without Spark and
still produce the very same scores.

Weighted samples (`weight`): a row's key becomes -ln(u) / weight, with u its
64-bit key mapped to (0, 1), and the sample is again the smallest keys: the
Efraimidis-Spirakis draw without replacement, in which each next row is picked
with probability proportional to its weight. The nightly job draws its
training sample this way from the new day and the time-decayed history.

Row ids: a caller that needs reproducibility across the two paths names a row-id
column (the evaluation command numbers the rows of its input as it reads them);
otherwise `monotonically_increasing_id()` serves, unique within one job.

>>> row_keys(np.array([0, 1, 2]), seed=7).dtype
dtype('int64')
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

SPARK_HASH_SEED = 42  # the seed Spark's xxhash64() starts from
_P1, _P2, _P3, _P4, _P5 = (np.uint64(v) for v in (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                                                  0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5))
SAMPLE_KEY = "_isoguard_sample_key"


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _hash_long(values: np.ndarray, seed: np.ndarray | np.uint64) -> np.ndarray:
    """Spark's XXH64.hashLong(value, seed) on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        h = seed + _P5 + np.uint64(8)
        h = h ^ (_rotl(values * _P2, 31) * _P1)
        h = _rotl(h, 27) * _P1 + _P4
        h = h ^ (h >> np.uint64(33))
        h = h * _P2
        h = h ^ (h >> np.uint64(29))
        h = h * _P3
        return h ^ (h >> np.uint64(32))


def row_keys(row_ids: np.ndarray, seed: int) -> np.ndarray:
    """numpy twin of `row_key`: Spark's xxhash64(row_id, seed) as int64, for long row ids."""
    ids = np.asarray(row_ids, dtype=np.int64).view(np.uint64)
    seeds = np.full(ids.shape, seed, dtype=np.int64).view(np.uint64)
    return _hash_long(seeds, _hash_long(ids, np.uint64(SPARK_HASH_SEED))).view(np.int64)


def number_rows(frame: DataFrame, name: str) -> DataFrame:
    """The frame with its rows numbered 0, 1, ... in the order Spark reads them (partition by partition).

    One extra job counts the rows of each partition; the number is then the
    partition's offset plus the row's position in it. For a file that is what a
    reader going through it from the top would count, so numpy's numbering of
    the same file agrees (`sample_positions`, the evaluation's split).
    """
    tagged = frame.withColumn("_isoguard_partition", F.spark_partition_id()) \
        .withColumn("_isoguard_position", F.monotonically_increasing_id())
    sizes = dict(tagged.groupBy("_isoguard_partition").count().collect())
    offsets, running = [], 0
    for partition in range(max(sizes, default=-1) + 1):
        offsets.append(running)
        running += sizes.get(partition, 0)
    start = F.element_at(F.array(*[F.lit(o).cast("long") for o in offsets] or [F.lit(0).cast("long")]),
                         F.col("_isoguard_partition") + 1)
    local = F.col("_isoguard_position") - F.shiftleft(F.col("_isoguard_partition").cast("long"), 33)
    return tagged.withColumn(name, start + local).drop("_isoguard_partition", "_isoguard_position")


def row_key(row_id: Column, seed: int) -> Column:
    """A row's 64-bit sampling key in Spark: xxhash64(row id, seed), both as longs."""
    return F.xxhash64(row_id.cast("long"), F.lit(seed).cast("long"))


def key_below(share: float) -> int:
    """The key value below which a uniform share of all 64-bit keys lies."""
    return int(-(2**63) + share * 2.0**64) if share < 1.0 else 2**63 - 1


def sample_positions(row_ids: np.ndarray, size: int, seed: int) -> np.ndarray:
    """numpy twin of `draw_sample`: positions of the sampled rows, in the order Spark returns them (by key)."""
    keys = row_keys(row_ids, seed)
    order = np.lexsort((np.asarray(row_ids), keys))
    return order[:size]


def weighted_key(key: Column, weight: Column) -> Column:
    """-ln(u) / weight, u = the 64-bit key mapped to (0, 1): the smallest of these draw a weighted sample.

    A row of weight 0 (or null) gets +infinity and is never drawn before a row of positive weight.
    """
    u = (key.cast("double") + F.lit(2.0**63) + F.lit(0.5)) / F.lit(2.0**64)
    return F.when(weight > 0, -F.log(u) / weight).otherwise(F.lit(math.inf))


def draw_sample(frame: DataFrame, size: int, seed: int, row_id: str | None = None,
                weight: str | None = None) -> pd.DataFrame:
    """Exactly min(size, rows) rows, uniformly at random without replacement, ordered by their key.

    The rows with the `size` smallest keys. A filter on the same key keeps rows
    whose key is below a share chosen so that at least `size` rows pass it with
    near certainty (mean + 10 standard deviations); the smallest keys all pass it,
    so it changes nothing but the work. Should fewer pass, the sort runs on every row.

    Cost: one count and one pass in which each partition keeps its smallest keys
    (Spark's takeOrdered); at most `size` rows reach the driver, never the whole input.

    Args:
        row_id: a long column that numbers the rows (for a sample `sample_positions`
            reproduces in numpy); default `monotonically_increasing_id()`.
        weight: a column of non-negative weights: rows are then drawn with probability
            proportional to their weight (`weighted_key`), with no pre-filter.
    """
    ids = F.col(row_id) if row_id else F.monotonically_increasing_id()
    keyed = frame.withColumn(SAMPLE_KEY, row_key(ids, seed))
    ordered = [SAMPLE_KEY, row_id] if row_id else [SAMPLE_KEY]
    smallest = lambda rows: rows.orderBy(*ordered).limit(size).toPandas()  # noqa: E731
    if weight is not None:
        keyed = keyed.withColumn(SAMPLE_KEY, weighted_key(F.col(SAMPLE_KEY), F.col(weight)))
        return smallest(keyed).drop(columns=[SAMPLE_KEY]).reset_index(drop=True)
    total = frame.count()
    if total <= size:
        sample = smallest(keyed)
    else:
        share = size / total
        share = share + 10.0 * math.sqrt(share * (1.0 - share) / total) + 10.0 / total
        sample = smallest(keyed.filter(F.col(SAMPLE_KEY) < F.lit(key_below(share))))
        if len(sample) < size:
            sample = smallest(keyed)
    return sample.drop(columns=[SAMPLE_KEY]).reset_index(drop=True)
