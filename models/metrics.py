"""Ranking metrics of scored, labelled rows: ROC-AUC and average precision, exactly as scikit-learn defines them.

Average precision (AP) is what ADBench, scikit-learn and the literature report
as the area under the precision-recall curve: the sum over the distinct score
thresholds, strictest first, of (recall gained) x (precision there). Spark's
`BinaryClassificationEvaluator("areaUnderPR")` is the trapezoidal area instead,
which on heavily imbalanced data can be half of AP, and it bins the curve once
scores have more distinct values than `numBins`. Both metrics here come from
one table: per distinct score, how many labelled positives and negatives hold
it. In Spark that is one aggregation, with one row per distinct score coming to
the driver (three numbers each: at most about 24 MB for a million labelled rows
with all-distinct scores); ties between scores count as scikit-learn counts them.

>>> ranking_metrics_numpy(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0]))
RankingMetrics(roc_auc=0.75, average_precision=0.8333333333333333)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

ROC_AUC = "roc_auc"
AVERAGE_PRECISION = "average_precision"


@dataclass(frozen=True)
class RankingMetrics:
    roc_auc: float
    average_precision: float


def from_counts(scores: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> RankingMetrics | None:
    """Metrics from per-distinct-score counts; None unless both classes are present."""
    order = np.argsort(-np.asarray(scores, dtype="float64"), kind="stable")
    pos, neg = np.asarray(positives, dtype="float64")[order], np.asarray(negatives, dtype="float64")[order]
    tps, fps = np.cumsum(pos), np.cumsum(neg)
    total_pos, total_neg = tps[-1] if len(tps) else 0.0, fps[-1] if len(fps) else 0.0
    if total_pos == 0 or total_neg == 0:
        return None
    tpr, fpr = np.concatenate([[0.0], tps / total_pos]), np.concatenate([[0.0], fps / total_neg])
    roc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    precision = tps / (tps + fps)
    ap = float(np.sum(pos / total_pos * precision))
    return RankingMetrics(roc_auc=roc, average_precision=ap)


def ranking_metrics_numpy(scores: np.ndarray, labels: np.ndarray) -> RankingMetrics | None:
    """ROC-AUC and AP of scores against 0/1 labels, in numpy."""
    distinct, inverse = np.unique(np.asarray(scores, dtype="float64"), return_inverse=True)
    labels = np.asarray(labels).astype(bool)
    positives = np.bincount(inverse, weights=labels, minlength=len(distinct))
    negatives = np.bincount(inverse, weights=~labels, minlength=len(distinct))
    return from_counts(distinct, positives, negatives)


def ranking_metrics(frame: DataFrame, score_col: str, label_col: str) -> RankingMetrics | None:
    """ROC-AUC and AP of a Spark frame's rows with a non-null 0/1 label (one aggregation)."""
    label = F.col(label_col).cast("int")
    rows = (frame.filter(F.col(label_col).isNotNull())
            .groupBy(F.col(score_col).cast("double").alias("s"))
            .agg(F.sum((label == 1).cast("long")).alias("p"), F.sum((label != 1).cast("long")).alias("n"))
            .toPandas())
    return from_counts(rows.s.to_numpy(), rows.p.to_numpy(), rows.n.to_numpy()) if len(rows) else None
