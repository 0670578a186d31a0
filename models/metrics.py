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


@dataclass(frozen=True)
class ScoreCounts:
    """Per distinct score, strictest (highest) first: how many labelled positives and negatives hold it."""

    scores: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray

    @classmethod
    def of(cls, scores: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> "ScoreCounts":
        order = np.argsort(-np.asarray(scores, dtype="float64"), kind="stable")
        return cls(np.asarray(scores, dtype="float64")[order], np.asarray(positives, dtype="float64")[order],
                   np.asarray(negatives, dtype="float64")[order])

    @property
    def has_both_classes(self) -> bool:
        return self.positives.sum() > 0 and self.negatives.sum() > 0


def count_scores_numpy(scores: np.ndarray, labels: np.ndarray) -> ScoreCounts:
    """ScoreCounts of scores against 0/1 labels, in numpy."""
    distinct, inverse = np.unique(np.asarray(scores, dtype="float64"), return_inverse=True)
    labels = np.asarray(labels).astype(bool)
    return ScoreCounts.of(distinct, np.bincount(inverse, weights=labels, minlength=len(distinct)),
                          np.bincount(inverse, weights=~labels, minlength=len(distinct)))


def count_scores(frame: DataFrame, score_col: str, label_col: str) -> ScoreCounts:
    """ScoreCounts of a Spark frame's rows with a non-null 0/1 label: one aggregation, a row per distinct score back."""
    label = F.col(label_col).cast("int")
    rows = (frame.filter(F.col(label_col).isNotNull())
            .groupBy(F.col(score_col).cast("double").alias("s"))
            .agg(F.sum((label == 1).cast("long")).alias("p"), F.sum((label != 1).cast("long")).alias("n"))
            .toPandas())
    return ScoreCounts.of(rows.s.to_numpy(), rows.p.to_numpy(), rows.n.to_numpy())


def from_counts(counts: ScoreCounts) -> RankingMetrics | None:
    """ROC-AUC and AP (scikit-learn's definitions); None unless both classes are present."""
    if not counts.has_both_classes:
        return None
    tps, fps = np.cumsum(counts.positives), np.cumsum(counts.negatives)
    tpr, fpr = np.concatenate([[0.0], tps / tps[-1]]), np.concatenate([[0.0], fps / fps[-1]])
    roc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    ap = float(np.sum(counts.positives / tps[-1] * (tps / (tps + fps))))
    return RankingMetrics(roc_auc=roc, average_precision=ap)


def best_f1_threshold(counts: ScoreCounts) -> float:
    """The score threshold (anomaly = score >= threshold) with the best F1 on the labels; the strictest among ties."""
    if len(counts.scores) == 0:
        raise ValueError("no labelled scores to calibrate a threshold on")
    tps, predicted = np.cumsum(counts.positives), np.cumsum(counts.positives + counts.negatives)
    f1 = 2.0 * tps / (predicted + counts.positives.sum())
    return float(counts.scores[int(np.argmax(f1))])


def f1_at(counts: ScoreCounts, threshold: float) -> float:
    """F1 of flagging scores >= threshold."""
    flagged = counts.scores >= threshold
    caught = counts.positives[flagged].sum()
    denominator = (counts.positives[flagged] + counts.negatives[flagged]).sum() + counts.positives.sum()
    return float(2.0 * caught / denominator) if denominator else 0.0


def ranking_metrics_numpy(scores: np.ndarray, labels: np.ndarray) -> RankingMetrics | None:
    """ROC-AUC and AP of scores against 0/1 labels, in numpy."""
    return from_counts(count_scores_numpy(scores, labels))


def ranking_metrics(frame: DataFrame, score_col: str, label_col: str) -> RankingMetrics | None:
    """ROC-AUC and AP of a Spark frame's rows with a non-null 0/1 label (one aggregation)."""
    return from_counts(count_scores(frame, score_col, label_col))
