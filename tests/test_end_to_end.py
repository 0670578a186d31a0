"""generator -> stream -> retrain -> stream with the champion, on real Spark, Delta and MLflow."""
import json

import pandas as pd
from deltalake import DeltaTable
from sklearn.metrics import roc_auc_score

from conftest import MALFORMED_LINES


def table(pipeline, name) -> pd.DataFrame:
    return DeltaTable(pipeline["config"].lake_path(name)).to_pandas()


def test_every_generated_event_lands_exactly_once(pipeline):
    events = table(pipeline, "events")
    quarantine = table(pipeline, "quarantine")
    generated = set(pipeline["truth"].event_id)
    assert events.event_id.is_unique
    assert set(events.event_id) == generated
    quarantined_ids = {json.loads(r).get("event_id") for r in quarantine.raw if r.startswith("{") and r.endswith("}")}
    assert not (quarantined_ids & generated)


def test_malformed_lines_are_quarantined_with_a_reason_and_the_stream_keeps_running(pipeline):
    quarantine = table(pipeline, "quarantine")
    assert sorted(quarantine.raw) == sorted(MALFORMED_LINES)
    reasons = dict(zip(quarantine.raw, quarantine.reason))
    assert reasons[MALFORMED_LINES[0]] == "malformed_json"
    assert reasons[MALFORMED_LINES[1]] == "malformed_json"
    assert reasons[MALFORMED_LINES[2]] == "wrong_type"
    assert quarantine.detail.notna().all()
    assert pipeline["still_running"]


def test_every_event_is_scored_exactly_once_also_those_stored_before_the_champion(pipeline):
    scores = table(pipeline, "scores")
    stats = table(pipeline, "stream_stats")
    assert scores.event_id.is_unique
    assert set(scores.event_id) == set(pipeline["truth"].event_id), "phase-2 all scored; phase 1 backfilled"
    phase1 = len(pipeline["truth"]) - len(pipeline["phase2_ids"])
    assert stats.rows_backfilled.sum() == phase1, "phase-1 events came before any model: scored once one existed"
    assert (scores.model_version == pipeline["champion_version"]).all()
    assert scores.anomaly_score.between(0, 1).all()


def test_injected_anomalies_score_higher(pipeline):
    scored = table(pipeline, "scores").merge(pipeline["truth"], on="event_id", suffixes=("", "_true"))
    assert scored.is_anomaly_true.sum() > 20
    auc = roc_auc_score(scored.is_anomaly_true, scored.anomaly_score)
    assert auc >= 0.9, auc


def test_stream_stats_account_for_every_row(pipeline):
    stats = table(pipeline, "stream_stats")
    events, quarantine, scores = (table(pipeline, t) for t in ("events", "quarantine", "scores"))
    assert (stats.rows_in == stats.rows_valid + stats.rows_quarantined + stats.rows_duplicate).all()
    assert stats.rows_in.sum() == len(events) + len(quarantine) + stats.rows_duplicate.sum()
    assert stats.rows_duplicate.sum() == 0, "the generator repeats no event id"
    assert stats.rows_scored.sum() + stats.rows_backfilled.fillna(0).sum() == len(scores)
    own = scores[scores.event_id.isin(pipeline["phase2_ids"])]  # phase 1 was scored by the backfill
    assert stats.anomalies.sum() == own.is_anomaly.sum()
    assert stats.model_version.isna().any() and (stats.model_version == pipeline["champion_version"]).any()


def test_anomalies_carry_their_top_features(pipeline):
    scores = table(pipeline, "scores")
    flagged = scores[scores.is_anomaly]
    assert len(flagged) > 0
    assert flagged.top_features.map(lambda t: t is not None and 1 <= len(t) <= 3).all()
    assert set(f for t in flagged.top_features for f in t) <= set(pipeline["config"].features)
    assert scores[~scores.is_anomaly].top_features.isna().all()
