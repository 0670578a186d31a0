"""Holdout metrics on real Spark frames, checked against scikit-learn and scipy; the plots render."""
import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from scipy.stats import ks_2samp
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

from models import plots
from models.forest import IsolationForest
from models.holdout_metrics import evaluate_model, evaluate_scored, ks_statistic, score_profile


@pytest.fixture(scope="module")
def scored(spark):
    rng = np.random.default_rng(7)
    scores = np.concatenate([rng.uniform(0.30, 0.62, 3000), rng.uniform(0.55, 0.85, 60)])
    labels = np.array([0] * 3000 + [1] * 60, dtype=float)
    labels[rng.random(len(labels)) < 0.3] = np.nan            # a third of the events carry no label
    frame = pd.DataFrame({"anomaly_score": scores, "is_anomaly": scores >= 0.6, "label": labels})
    unlabelled_as_null = F.expr("cast(if(isnan(label), null, label) as int)")
    return frame, spark.createDataFrame(frame).withColumn("label", unlabelled_as_null)


def test_metrics_at_the_threshold_match_scikit_learn_on_the_labelled_events(scored):
    frame, df = scored
    report = evaluate_scored(df, threshold=0.6)
    known = frame.dropna(subset=["label"])
    assert report.rows == len(frame) and report.labelled == len(known) and report.positives == known.label.sum()
    assert report.alert_rate == pytest.approx(frame.is_anomaly.mean())
    assert report.precision == pytest.approx(precision_score(known.label, known.is_anomaly))
    assert report.recall == pytest.approx(recall_score(known.label, known.is_anomaly))
    assert report.f1 == pytest.approx(f1_score(known.label, known.is_anomaly))
    assert report.roc_auc == pytest.approx(roc_auc_score(known.label, known.anomaly_score), abs=1e-3)
    assert report.average_precision == pytest.approx(average_precision_score(known.label, known.anomaly_score), abs=1e-12)
    recall, precision = report.profile.pr_curve()
    assert recall[-1] == 1.0 and precision[-1] == pytest.approx(known.label.mean())


def test_without_labels_only_alert_rate_and_distribution(scored):
    _, df = scored
    report = evaluate_scored(df.drop("label"), threshold=0.6, label_col=None)
    assert report.has_labels is False
    assert set(report.metrics()) == {"rows", "alert_rate", "labelled", "positives"}


def test_ks_statistic_of_binned_scores_matches_scipy(spark):
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.45, 0.05, 4000), rng.normal(0.48, 0.05, 3000)
    profile = lambda x: score_profile(spark.createDataFrame(pd.DataFrame({"s": x, "p": x > 0.6})), "s", "p", None)  # noqa: E731
    assert ks_statistic(profile(a).rows, profile(b).rows) == pytest.approx(ks_2samp(a, b).statistic, abs=0.01)
    assert ks_statistic(profile(a).rows, profile(a).rows) == 0.0


def test_evaluate_model_scores_the_holdout_once_and_the_plots_render(spark, tmp_path):
    rng = np.random.default_rng(0)
    normal, outliers = rng.normal(0, 1, size=(1500, 2)), rng.uniform(6, 9, size=(15, 2))
    frame = pd.DataFrame(np.vstack([normal, outliers]), columns=["a", "b"]).assign(label=[0] * 1500 + [1] * 15)
    df = spark.createDataFrame(frame)
    good = IsolationForest(inputCols=["a", "b"], numTrees=50, maxSamples=128, seed=1).fit(df)
    poor = IsolationForest(inputCols=["a", "b"], numTrees=1, maxSamples=4, seed=1).fit(df)
    reports = {"challenger": evaluate_model(good, df), "champion": evaluate_model(poor, df)}
    assert reports["challenger"].roc_auc > 0.95 > reports["champion"].roc_auc
    for name, figure in (("hist.png", plots.score_histogram(reports)), ("pr.png", plots.precision_recall(reports))):
        figure.savefig(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 5000
