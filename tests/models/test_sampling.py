"""The training sample is uniform over the input, whatever its partition order (issue 10).

The input is 200,000 rows whose partition order tracks the label (anomalies
last), the event time (increasing) and the key (contiguous blocks), the worst
case for a sampler that cuts by position. The old sampler (Bernoulli, then
`limit`) kept none of the anomalies and none of the last hours.
"""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F
from sklearn.ensemble import IsolationForest as SkIsolationForest
from sklearn.metrics import roc_auc_score

from models.forest import IsolationForest, draw_sample

ROWS = 200_000
ANOMALIES = 2_000
BLOCKS = 10
SIZE = 100 * 256  # numTrees x maxSamples at the defaults


@pytest.fixture(scope="module")
def ordered(spark):
    """Rows in id order across 8 partitions: key blocks, increasing time, the anomalies at the very end."""
    anomaly = F.col("id") >= ROWS - ANOMALIES
    frame = (spark.range(ROWS, numPartitions=8)
             .withColumn("label", anomaly.cast("int"))
             .withColumn("t", F.col("id"))                                   # the event time, in arrival order
             .withColumn("block", (F.col("id") * BLOCKS / ROWS).cast("int"))  # the key, in contiguous blocks
             .withColumn("x", F.when(anomaly, F.randn(1) * 0.5 + 2.5).otherwise(F.randn(1)))
             .withColumn("y", F.when(anomaly, F.randn(2) * 0.5 + 2.5).otherwise(F.randn(2))))
    return frame.persist()


def within(observed: int, expected: float, n: int, share: float, sds: float = 5.0) -> bool:
    return abs(observed - expected) <= sds * np.sqrt(n * share * (1 - share))


@pytest.mark.parametrize("seed", [42, 7])
def test_sample_matches_the_inputs_composition(ordered, seed):
    sample = draw_sample(ordered, SIZE, seed)
    assert len(sample) == SIZE, "exactly numTrees x maxSamples rows"
    assert sample["id"].is_unique, "drawn without replacement"
    share = ANOMALIES / ROWS
    assert within(int(sample.label.sum()), SIZE * share, SIZE, share), \
        f"{int(sample.label.sum())} anomalies in the sample, expected about {SIZE * share:.0f}"
    for column in ("block", "t"):
        counts = np.bincount((sample[column].to_numpy() * BLOCKS // (BLOCKS if column == "block" else ROWS)),
                             minlength=BLOCKS)
        assert all(within(c, SIZE / BLOCKS, SIZE, 1 / BLOCKS) for c in counts), \
            f"{column}: rows per tenth of the input {counts.tolist()}, expected about {SIZE // BLOCKS} each"


def test_small_inputs_are_taken_whole(spark):
    frame = spark.range(300).withColumn("x", F.col("id") * 1.0)
    assert sorted(draw_sample(frame, 1000, 1).id) == list(range(300))


def test_forest_ranks_like_scikit_learn_on_a_label_ordered_input(ordered):
    """Same split, same protocol: the Spark-fitted forest's ROC-AUC equals scikit-learn's within 0.005."""
    in_test = F.abs(F.xxhash64("id")) % 10 < 3
    train, test = ordered.filter(~in_test), ordered.filter(in_test)
    model = IsolationForest(inputCols=["x", "y"], seed=3).fit(train)
    scored = model.transform(test).select("x", "y", "label", "anomaly_score").toPandas()
    ours = roc_auc_score(scored.label, scored.anomaly_score)
    reference = SkIsolationForest(n_estimators=100, max_samples=256, random_state=3).fit(
        train.select("x", "y").toPandas().to_numpy())
    theirs = roc_auc_score(scored.label, -reference.score_samples(scored[["x", "y"]].to_numpy()))
    print(f"ROC-AUC isoguard {ours:.4f}, scikit-learn {theirs:.4f}")
    assert ours == pytest.approx(theirs, abs=0.005)
