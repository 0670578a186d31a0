"""The evaluation CLI on the shared labelled data sets, against ADBench's published ROC-AUC."""
import json
import subprocess
import sys

import pytest

from conftest import LABELED, ROOT
from models.evaluate import evaluate, read_labelled

PUBLISHED_ROC_AUC = {  # ADBench, Table D4, IsolationForest
    "cardio.csv": 0.932,
    "thyroid.csv": 0.983,
    "annthyroid.csv": 0.820,
    "mammography.csv": 0.864,
    "pendigits.csv": 0.948,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_ROC_AUC))
def test_roc_auc_matches_the_published_figure(spark, name):
    path = LABELED / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the shared data sets must sit beside the repository")
    result = evaluate(read_labelled(spark, str(path)), "label")
    print(f"{name}: ROC-AUC {result.roc_auc:.3f} (published {PUBLISHED_ROC_AUC[name]}), PR-AUC {result.pr_auc:.3f}, F1 {result.f1:.3f}")
    assert abs(result.roc_auc - PUBLISHED_ROC_AUC[name]) <= 0.03, (name, result.roc_auc)
    assert 0 < result.pr_auc <= 1 and 0 <= result.f1 <= 1
    assert len(result.per_seed) == 3


def test_cli_prints_and_writes_json(tmp_path):
    out = tmp_path / "thyroid.json"
    result = subprocess.run([sys.executable, "-m", "models.evaluate", "--input", str(LABELED / "thyroid.csv"),
                             "--label-col", "label", "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "thyroid.csv: 3772 rows, 93 anomalies; mean of 3 seeds: ROC-AUC" in result.stdout
    saved = json.loads(out.read_text())
    assert set(saved) >= {"roc_auc", "pr_auc", "f1", "per_seed"}


def test_cli_rejects_a_missing_label_column():
    result = subprocess.run([sys.executable, "-m", "models.evaluate", "--input", str(LABELED / "thyroid.csv"),
                             "--label-col", "verdict"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: --label-col: 'verdict' is not a column")
