"""The NAB-style evaluation: the scoring rules on a worked example, the threshold sweep, the command on a shared series."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from commands.evaluate_series import NabFile, best_threshold, main, probation_rows, scaled_sigmoid
from lakehouse.cli import run_cli

SERIES = Path(__file__).resolve().parents[3] / "shared" / "data" / "series"


def worked_file():
    times = pd.Series(pd.date_range("2026-01-01", periods=1000, freq="5min"))
    return NabFile("f.csv", times, [[str(times[600]), str(times[699])]]), times


def test_nab_rules_on_a_worked_example():
    assert probation_rows(1000) == 150 and probation_rows(10_000) == 750
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5) and scaled_sigmoid(5.0) == -1.0
    nab, _ = worked_file()
    scores = np.zeros(1000)
    scores[600] = 1.0                       # first row of the window: the full reward
    result = nab.score(scores, 0.5)
    assert result.raw == pytest.approx(1.0) and result.normalised == pytest.approx(100.0)
    assert result.caught == 1 and result.delays_rows == [0] and result.delays_minutes == [0.0]
    scores[[100, 300, 650, 700, 800]] = 1.0  # probation, a false positive, a later hit, two after the window
    result = nab.score(scores, 0.5)
    after = 0.11 * (scaled_sigmoid(1 / 99) + scaled_sigmoid(101 / 99))
    assert result.false_positives == 3 and result.raw == pytest.approx(1.0 - 0.11 + after)
    assert nab.score(np.zeros(1000), 0.5).normalised == 0.0      # the null detector
    missed = np.zeros(1000)
    missed[699] = 1.0                                            # the window's last row: almost nothing
    assert 0 < nab.score(missed, 0.5).raw < 0.1


def test_the_sweep_agrees_with_scoring_at_each_threshold():
    nab, _ = worked_file()
    scores = np.random.default_rng(0).uniform(size=1000)
    scores[640] = 0.9995
    thresholds = np.array([0.9, 0.99, 0.999, 0.9995])
    swept = nab.raw_by_threshold(scores, thresholds)
    assert swept == pytest.approx([nab.score(scores, t).raw for t in thresholds])
    assert best_threshold([nab], [scores]) == 0.9995


@pytest.mark.skipif(not SERIES.exists(), reason="the shared NAB series are not here")
def test_the_command_runs_a_shared_series_through_the_per_key_path(tmp_path, capsys):
    out = tmp_path / "nab.json"
    code = main(["--data", str(SERIES), "--files", "artificialWithAnomaly/art_daily_jumpsup.csv",
                 "--max-rows", "3100", "--batch-rows", "50", "--set", "num_trees=10", "--set", "tree_size=64",
                 "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    ensemble = report["detectors"]["score"]
    assert ensemble["overall"]["caught"] == 1 and ensemble["overall"]["normalised"] > 50
    assert set(report["detectors"]) == {"score", "score_rcf", "score_zscore", "score_seasonal"}
    assert "| artificialWithAnomaly/art_daily_jumpsup.csv | 1/1 |" in capsys.readouterr().out


def test_a_bad_setting_is_one_line_naming_it(tmp_path, capsys):
    (tmp_path / "windows.json").write_text("{}")
    assert run_cli(lambda: main(["--data", str(tmp_path), "--set", "num_tres=3"])) == 2
    err = capsys.readouterr().err
    assert "num_tres" in err and err.count("\n") == 1
