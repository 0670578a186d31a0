"""Threshold calibration: from a target contamination, or from labels (best F1).

Both run in Spark over scored rows and never collect them: the contamination
threshold is an approximate quantile (relative error QUANTILE_RELATIVE_ERROR);
the labelled threshold is the candidate, among CANDIDATES approximate quantiles
of the scores, that maximises F1 against the labels.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.ml.feature import Bucketizer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

QUANTILE_RELATIVE_ERROR = 1e-3
CANDIDATES = 400


@dataclass(frozen=True)
class Calibration:
    """Where a model's threshold came from: "labels" (best F1) or "contamination" (a quantile)."""

    threshold: float
    source: str
    labelled: int = 0     # labelled events before the holdout (0 when labels were not consulted)
    anomalies: int = 0    # of which labelled anomalies

    def describe(self) -> str:
        if self.source == "labels":
            return f"labels: best F1 on {self.labelled} labelled events ({self.anomalies} anomalies)"
        seen = f"; {self.anomalies} labelled anomalies, too few for labels" if self.labelled else ""
        return ("contamination: approximate quantile of the training scores "
                f"(relative error {QUANTILE_RELATIVE_ERROR:g}){seen}")


def threshold_from_contamination(scored: DataFrame, score_col: str, contamination: float) -> float:
    (value,) = scored.approxQuantile(score_col, [1.0 - contamination], QUANTILE_RELATIVE_ERROR)
    return float(value)


def threshold_from_labels(scored: DataFrame, score_col: str, label_col: str) -> float:
    """The score threshold (is_anomaly = score >= threshold) with the best F1 on the labels.

    One pass: scores are bucketed between candidate thresholds and counted per
    bucket; the driver then sweeps the (few hundred) buckets.
    """
    probes = [i / CANDIDATES for i in range(CANDIDATES // 2, CANDIDATES)]  # anomalies live in the upper half
    candidates = sorted(set(scored.approxQuantile(score_col, probes, QUANTILE_RELATIVE_ERROR)))
    if not candidates:
        raise ValueError("no scored rows to calibrate a threshold on")
    splits = [-float("inf"), *candidates, float("inf")]
    bucketed = Bucketizer(splits=splits, inputCol=score_col, outputCol="_bucket").transform(scored)
    counts = {int(r._bucket): (r.n, r.positives) for r in bucketed.groupBy("_bucket").agg(
        F.count(F.lit(1)).alias("n"), F.sum((F.col(label_col).cast("int") == 1).cast("int")).alias("positives")).collect()}
    all_positives = sum(p for _, p in counts.values())
    best, best_f1, predicted, true_positives = candidates[-1], -1.0, 0, 0
    for bucket in range(len(candidates), 0, -1):  # bucket j holds scores in [candidates[j-1], candidates[j])
        n, positives = counts.get(bucket, (0, 0))
        predicted, true_positives = predicted + n, true_positives + positives
        denominator = predicted + all_positives
        f1 = 2 * true_positives / denominator if denominator else 0.0
        if f1 > best_f1:
            best, best_f1 = candidates[bucket - 1], f1
    return float(best)
