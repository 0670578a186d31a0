"""Training hygiene and window labels on tiny real Spark frames."""
from datetime import datetime, timedelta

import pandas as pd
import pytest

from batch import hygiene
from batch.window_labels import combine, read_truth, verdicts_per_event
from lakehouse.catalog import labels_schema, quarantine_schema

T0 = datetime(2026, 11, 21, 10, 0)


def at(minutes):
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def window(spark, default_config):
    rows = [(f"e{i}", device, at(i), float(i)) for i, device in [
        (1, "dev-1"), (2, "dev-1"), (3, "dev-1"), (4, "dev-1"), (5, "dev-1"), (6, "dev-1"),
        (7, "dev-2"), (8, "dev-2"), (9, "dev-2"), (10, "dev-3"), (11, "dev-1")]]
    return spark.createDataFrame(rows, "event_id string, device_id string, event_time timestamp, cpu_pct double")


def label(label_id, target, target_id, verdict, minutes_labelled, key=None, start=None, end=None):
    return (label_id, target, target_id, key, start, end, verdict, "ana", None, at(100 + minutes_labelled))


@pytest.fixture
def labels(spark, default_config):
    rows = [
        label("l1", "event", "e5", "true_positive", 0),
        label("l2", "event", "e6", "true_positive", 0),
        label("l3", "event", "e6", "false_positive", 5),          # the analyst changed their mind
        label("l4", "alert", "a-1", "true_positive", 0, "dev-2", at(7), at(8)),
        label("l5", "event", "e-elsewhere", "true_positive", 0),  # not in the window
    ]
    return spark.createDataFrame(rows, labels_schema(default_config))


@pytest.fixture
def quarantine(spark):
    raw = ['{"event_id": "e2", "device_id": "dev-1", "cpu_pct": "high"}', "not json at all",
           '{"event_id": "e11", "cpu_pct": 500}', '{"device_id": "dev-1"}']
    return spark.createDataFrame([(r, "wrong_type", None, "f.jsonl", 0, at(0), at(0).date(), len(r.encode())) for r in raw],
                                 quarantine_schema())


@pytest.fixture
def scores(spark):
    rows = [("e3", 0.90, 0.60), ("e4", 0.62, 0.60), ("e11", 0.95, 0.60), ("e1", 0.40, 0.60)]
    return spark.createDataFrame(rows, "event_id string, anomaly_score double, threshold double")


def test_excludes_quarantined_labelled_and_flagged_events_and_counts_each_once(
        window, quarantine, scores, labels, default_config):
    excluded = hygiene.exclusions(window, default_config, quarantine=quarantine, scores=scores, labels=labels,
                                  margin=0.05)
    reasons = dict(excluded.collect())
    assert reasons == {"e2": "quarantined", "e11": "quarantined",   # e11 is flagged too: counted once
                       "e5": "labelled", "e7": "labelled", "e8": "labelled",
                       "e3": "flagged"}
    kept = sorted(r.event_id for r in hygiene.without(window, excluded, default_config).collect())
    assert kept == ["e1", "e10", "e4", "e6", "e9"], "e4 is within the margin; e6 relabelled normal; e10 another key"
    counts = hygiene.count_by_reason(window, excluded, default_config)
    assert counts == {"quarantined": 2, "labelled": 3, "flagged": 1, "total": 6}


def test_a_zero_margin_excludes_everything_the_serving_model_flagged(window, quarantine, scores, labels,
                                                                    default_config, spark):
    empty_quarantine = spark.createDataFrame([], quarantine_schema())
    empty_labels = spark.createDataFrame([], labels_schema(default_config))
    excluded = hygiene.exclusions(window, default_config, quarantine=empty_quarantine, scores=scores,
                                  labels=empty_labels, margin=0.0)
    assert hygiene.count_by_reason(window, excluded, default_config) == {
        "quarantined": 0, "labelled": 0, "flagged": 3, "total": 3}


def test_verdicts_cover_events_and_alert_spans_and_the_latest_wins(window, labels, default_config):
    verdicts = dict(verdicts_per_event(window, labels, default_config).collect())
    assert verdicts == {"e5": 1, "e6": 0, "e7": 1, "e8": 1}


def test_ground_truth_files_fill_in_where_no_analyst_spoke(spark, window, labels, default_config, tmp_path):
    assert read_truth(spark, str(tmp_path / "absent"), default_config) is None
    (tmp_path / "truth").mkdir()
    pd.DataFrame({"event_id": ["e1", "e5", "e6"], "is_anomaly": [0, 0, 1], "kind": ["normal"] * 3}) \
        .to_csv(tmp_path / "truth" / "part-1.csv", index=False)
    truth = read_truth(spark, str(tmp_path / "truth"), default_config)
    merged = dict(combine(verdicts_per_event(window, labels, default_config), truth, default_config).collect())
    assert merged == {"e1": 0, "e5": 1, "e6": 0, "e7": 1, "e8": 1}, "analysts override the ground truth"
