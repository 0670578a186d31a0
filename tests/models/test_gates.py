"""Promotion gates: pure decisions on holdout reports."""
import numpy as np

from lakehouse.config import RetrainConfig
from models.gates import Champion, decide
from models.holdout_metrics import BINS, HoldoutReport, ScoreProfile

SETTINGS = RetrainConfig(primary_metric="average_precision", max_metric_drop=0.02, min_alert_rate=0.001, max_alert_rate=0.05)


def report(alert_rate=0.01, ap=None):
    empty = ScoreProfile(*(np.zeros(BINS, dtype=np.int64) for _ in range(6)))
    labelled = ap is not None
    return HoldoutReport(rows=1000, threshold=0.6, alert_rate=alert_rate, labelled=100 if labelled else 0,
                         positives=10 if labelled else 0, precision=0.5 if labelled else None,
                         recall=0.5 if labelled else None, f1=0.5 if labelled else None,
                         roc_auc=0.9 if labelled else None, average_precision=ap, profile=empty)


def test_the_first_model_is_always_promoted():
    decision = decide(report(alert_rate=0.9), None, SETTINGS)
    assert decision.promote and decision.summary == "promoted: first model, nothing to compare with"


def test_a_challenger_within_the_margin_is_promoted():
    decision = decide(report(ap=0.79), Champion("3", report(ap=0.80)), SETTINGS)
    assert decision.promote
    assert decision.summary == ("promoted: alert rate 0.0100 within [0.001, 0.05]; "
                                "average_precision 0.7900 vs champion v3 0.8000 (allowed drop 0.02)")


def test_a_worse_challenger_is_kept_with_the_reason():
    decision = decide(report(ap=0.60), Champion("3", report(ap=0.80)), SETTINGS)
    assert not decision.promote
    assert decision.summary == "kept as challenger: average_precision 0.6000 vs champion v3 0.8000, down 0.2000 (allowed 0.02)"


def test_alert_rate_out_of_bounds_fails_even_without_labels():
    decision = decide(report(alert_rate=0.2), Champion("3", report()), SETTINGS)
    assert not decision.promote
    assert decision.summary == "kept as challenger: alert rate 0.2000 outside [0.001, 0.05]"
    quiet = decide(report(alert_rate=0.01), Champion("3", report()), SETTINGS)
    assert quiet.promote and "average_precision not compared (no labelled holdout events of both classes)" in quiet.summary


def test_force_promotes_and_records_what_the_gates_said():
    decision = decide(report(alert_rate=0.2, ap=0.5), Champion("3", report(ap=0.8)), SETTINGS, force=True)
    assert decision.promote
    assert decision.summary.startswith("forced: gates would have kept it as challenger: alert rate 0.2000 outside")
    assert decide(report(ap=0.8), Champion("3", report(ap=0.8)), SETTINGS, force=True).summary == \
        "forced: gates passed"


def test_a_champion_that_cannot_score_the_features_is_replaced():
    decision = decide(report(alert_rate=0.2), Champion("3", None, "features differ from the config"), SETTINGS)
    assert decision.promote and decision.summary == \
        "promoted: champion v3 cannot be compared (features differ from the config)"
