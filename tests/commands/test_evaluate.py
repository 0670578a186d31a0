"""The evaluation command on the shared labelled data sets: published figures, scikit-learn side by side, two paths."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from conftest import LABELED, ROOT
from commands.evaluate import (ROW, ForestSettings, evaluate_file, read_labelled, read_pandas, scores_in_process,
                             spark_test_scores)

PUBLISHED_ROC_AUC = {  # ADBench, Table D4, IsolationForest
    "cardio.csv": 0.932,
    "thyroid.csv": 0.983,
    "annthyroid.csv": 0.820,
    "mammography.csv": 0.864,
    "pendigits.csv": 0.948,
}


@pytest.fixture(scope="module")
def results():
    """Every shared set with the default settings and scikit-learn's forest on the same splits (in process)."""
    out = {}
    for name in sorted(PUBLISHED_ROC_AUC):
        path = LABELED / name
        if not path.exists():
            pytest.fail(f"{path} is missing: the shared data sets must sit beside the repository")
        out[name] = evaluate_file(str(path), "label", baseline=True)
        print(f"{name}: isoguard ROC-AUC {out[name].roc_auc:.3f} AP {out[name].average_precision:.3f}; "
              f"scikit-learn ROC-AUC {out[name].baseline['roc_auc']:.3f} AP {out[name].baseline['average_precision']:.3f}")
    return out


@pytest.mark.parametrize("name", sorted(PUBLISHED_ROC_AUC))
def test_roc_auc_matches_the_published_figure(results, name):
    result = results[name]
    assert abs(result.roc_auc - PUBLISHED_ROC_AUC[name]) <= 0.03, (name, result.roc_auc)
    assert 0 < result.average_precision <= 1 and 0 <= result.f1 <= 1
    assert len(result.per_seed) == 10 and result.path == "in process"


def test_default_forest_is_at_least_scikit_learns_on_every_set_and_better_on_average(results):
    gaps = {name: r.roc_auc - r.baseline["roc_auc"] for name, r in results.items()}
    assert all(gap >= 0 for gap in gaps.values()), gaps
    assert np.mean(list(gaps.values())) > 0, gaps


@pytest.mark.parametrize("extension_level", [0, 1])
def test_scores_are_identical_in_process_and_in_spark(spark, extension_level):
    """Same split, same sample, same trees: the two paths give the very same scores, and so the same metrics."""
    path = str(LABELED / "cardio.csv")
    settings = ForestSettings(num_trees=20, max_samples=64, extension_level=extension_level)
    frame = read_pandas(path)
    features = [c for c in frame.columns if c != "label"]
    X, labels = frame[features].to_numpy(dtype="float64"), frame.label.to_numpy()
    in_train, _, local = scores_in_process(X, labels, seed=1, settings=settings)
    spark_frame = read_labelled(spark, path)
    train, test, _, scored = spark_test_scores(spark_frame, "label", features, seed=1, settings=settings)
    remote = scored.toPandas().sort_values(ROW)
    assert remote[ROW].tolist() == np.flatnonzero(~in_train).tolist(), "the same rows are held out"
    np.testing.assert_array_equal(remote.anomaly_score.to_numpy(), local)
    assert roc_auc_score(labels[~in_train], local) > 0.8
    a = evaluate_file(path, settings=settings, seeds=(2,), in_process_rows=10**9)
    b = evaluate_file(path, settings=settings, seeds=(2,), in_process_rows=0, spark_factory=lambda: spark)
    assert (a.path, b.path) == ("in process", "spark")
    for metric in ("roc_auc", "average_precision", "f1", "threshold"):
        assert a.per_seed[0][metric] == b.per_seed[0][metric], metric


def test_average_precision_is_scikit_learns(spark):
    """Not Spark's trapezoidal areaUnderPR: on imbalanced data the two differ a lot."""
    from models.metrics import ranking_metrics

    rng = np.random.default_rng(5)
    labels = (rng.random(5000) < 0.02).astype(int)
    scores = np.round(rng.random(5000) * 0.5 + labels * rng.random(5000) * 0.6, 3)
    frame = spark.createDataFrame(pd.DataFrame({"s": scores, "y": labels}))
    metrics = ranking_metrics(frame, "s", "y")
    assert metrics.average_precision == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert metrics.roc_auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_cli_prints_times_and_writes_json(tmp_path):
    out = tmp_path / "thyroid.json"
    result = subprocess.run([sys.executable, "-m", "commands.evaluate", "--input", str(LABELED / "thyroid.csv"),
                             "--label-col", "label", "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "thyroid.csv: 3772 rows, 93 anomalies; mean of 10 seeds: ROC-AUC" in result.stdout
    assert " s, in process)" in result.stdout
    saved = json.loads(out.read_text())
    assert set(saved) >= {"roc_auc", "average_precision", "f1", "per_seed", "seconds"}


def test_cli_rejects_a_missing_label_column():
    result = subprocess.run([sys.executable, "-m", "commands.evaluate", "--input", str(LABELED / "thyroid.csv"),
                             "--label-col", "verdict"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: --label-col: 'verdict' is not a column")
