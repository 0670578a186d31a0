"""How a model does on held-out events: alert rate and score distribution always; detection metrics on labels.

One Spark pass bins the scores (BINS equal bins over [0, 1]) and counts, per
bin, the rows, flagged rows, labelled rows and labelled anomalies; alert rate,
precision, recall and F1 at the model's threshold are exact sums of those
counts, and the score histogram, the precision-recall curve and the shift
between two score distributions (Kolmogorov-Smirnov statistic, resolution
1/BINS) come from the bins on the driver. ROC-AUC and average precision are
exact (models.metrics: one more aggregation, by distinct score). Label-based
metrics need labelled events of both classes; otherwise they are None.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from models.metrics import ranking_metrics

BINS = 1000
COUNTS = ("rows", "flagged", "labelled", "positives", "true_positives", "flagged_labelled")


@dataclass(frozen=True)
class ScoreProfile:
    """Counts per score bin; bin i holds scores in [i / BINS, (i + 1) / BINS)."""

    rows: np.ndarray
    flagged: np.ndarray
    labelled: np.ndarray
    positives: np.ndarray
    true_positives: np.ndarray
    flagged_labelled: np.ndarray

    def pr_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(recall, precision) for a threshold at each occupied bin's lower edge, strictest first."""
        predicted = np.cumsum(self.labelled[::-1])
        caught = np.cumsum(self.positives[::-1])
        occupied = predicted > 0
        total = self.positives.sum()
        return (caught[occupied] / max(total, 1), caught[occupied] / predicted[occupied])


def score_profile(scored: DataFrame, score_col: str, prediction_col: str, label_col: str | None) -> ScoreProfile:
    """Bin the scores of `scored` (one Spark pass, BINS rows back at most)."""
    label = F.col(label_col) if label_col else F.lit(None).cast("int")
    flagged, positive = F.col(prediction_col).cast("int"), (label == 1).cast("int")
    binned = scored.select(F.least(F.floor(F.col(score_col) * BINS), F.lit(BINS - 1)).cast("int").alias("_bin"),
                           flagged.alias("_flagged"), label.isNotNull().cast("int").alias("_labelled"),
                           F.coalesce(positive, F.lit(0)).alias("_positive"))
    rows = binned.groupBy("_bin").agg(
        F.count(F.lit(1)).alias("rows"), F.sum("_flagged").alias("flagged"), F.sum("_labelled").alias("labelled"),
        F.sum("_positive").alias("positives"), F.sum(F.col("_flagged") * F.col("_positive")).alias("true_positives"),
        F.sum(F.col("_flagged") * F.col("_labelled")).alias("flagged_labelled")).collect()
    arrays = {name: np.zeros(BINS, dtype=np.int64) for name in COUNTS}
    for row in rows:
        for name in COUNTS:
            arrays[name][row._bin] = row[name]
    return ScoreProfile(**arrays)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Largest gap between the cumulative distributions of two binned score counts (0 = same, 1 = disjoint)."""
    if a.sum() == 0 or b.sum() == 0:
        return float("nan")
    return float(np.max(np.abs(np.cumsum(a) / a.sum() - np.cumsum(b) / b.sum())))


@dataclass(frozen=True)
class HoldoutReport:
    rows: int
    threshold: float
    alert_rate: float
    labelled: int
    positives: int
    precision: float | None
    recall: float | None
    f1: float | None
    roc_auc: float | None
    average_precision: float | None
    profile: ScoreProfile

    @property
    def has_labels(self) -> bool:
        return self.roc_auc is not None

    def metrics(self) -> dict[str, float]:
        """The report's numbers (label-based ones only where labels exist)."""
        values = {"rows": self.rows, "alert_rate": self.alert_rate, "labelled": self.labelled,
                  "positives": self.positives, "precision": self.precision, "recall": self.recall, "f1": self.f1,
                  "roc_auc": self.roc_auc, "average_precision": self.average_precision}
        return {name: float(value) for name, value in values.items() if value is not None}


def evaluate_scored(scored: DataFrame, threshold: float, score_col: str = "anomaly_score",
                    prediction_col: str = "is_anomaly", label_col: str | None = "label") -> HoldoutReport:
    """Metrics of rows already scored by a model whose threshold is `threshold`."""
    profile = score_profile(scored, score_col, prediction_col, label_col)
    rows, labelled, positives = (int(getattr(profile, n).sum()) for n in ("rows", "labelled", "positives"))
    precision = recall = f1 = roc = ap = None
    if label_col and 0 < positives < labelled:
        predicted, caught = int(profile.flagged_labelled.sum()), int(profile.true_positives.sum())
        precision = caught / predicted if predicted else 0.0
        recall = caught / positives
        f1 = 2 * caught / (predicted + positives)
        ranking = ranking_metrics(scored, score_col, label_col)
        roc, ap = ranking.roc_auc, ranking.average_precision
    return HoldoutReport(rows=rows, threshold=threshold, alert_rate=int(profile.flagged.sum()) / rows if rows else 0.0,
                         labelled=labelled, positives=positives, precision=precision, recall=recall, f1=f1,
                         roc_auc=roc, average_precision=ap, profile=profile)


def evaluate_model(model, holdout: DataFrame, label_col: str | None = "label") -> HoldoutReport:
    """Score `holdout` with an IsolationForestModel and report (the scores are computed once)."""
    scored = model.transform(holdout).select(model.getScoreCol(), model.getPredictionCol(),
                                             *([label_col] if label_col else [])).persist()
    try:
        return evaluate_scored(scored, model.threshold_, model.getScoreCol(), model.getPredictionCol(), label_col)
    finally:
        scored.unpersist()
