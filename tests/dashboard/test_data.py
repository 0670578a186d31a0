"""Dashboard data access on real Delta tables written with delta-rs: incremental reads, empty lakes, KPIs."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from dashboard.data import LakeReader
from dashboard.delta import DeltaFollower, arrow_schema
from dashboard.kpis import kpis, latest_alerts, thin_out

T0 = datetime(2026, 11, 21, 23, 50, tzinfo=timezone.utc)


def stats_rows(n):
    t0 = pd.Timestamp("2026-11-21T00:00:00Z")
    return pd.DataFrame({
        "batch_id": range(n),
        "started_at": [t0 + pd.Timedelta(seconds=2 * i) for i in range(n)],
        "finished_at": [t0 + pd.Timedelta(seconds=2 * i + 1) for i in range(n)],
        "rows_in": [100] * n, "rows_scored": [100] * n, "anomalies": [1] * n, "rows_quarantined": [0] * (n - 1) + [5],
        "latency_p95_ms": [900.0] * n, "model_version": [None] * (n - 3) + ["2"] * 3, "threshold": [0.6] * n,
    })


def test_kpis_summarise_the_latest_batches():
    k = kpis(stats_rows(30))
    # last 10 batches: 1000 rows from the start of batch 20 (40 s) to the end of batch 29 (59 s)
    assert k.events_per_second == 1000 / 19
    assert k.anomaly_rate == 0.01
    assert k.quarantine_rate == 5 / 1000
    assert k.model_version == "2"
    assert k.quarantined == 5


def test_kpis_of_an_empty_stream():
    k = kpis(pd.DataFrame())
    assert k.events_per_second is None and k.model_version is None and k.batches == 0


def test_thin_out_keeps_every_anomaly_and_spreads_the_rest():
    selected = np.ones(10000, dtype=bool)
    flagged = np.arange(10000) % 1000 == 0
    chosen = thin_out(selected, flagged, np.zeros(10000), 500)
    assert len(chosen) <= 500
    assert flagged[chosen].sum() == 10
    assert np.all(np.diff(chosen) > 0) and chosen.min() < 100 and chosen.max() > 9800


def test_thin_out_leaves_room_for_normal_scores_when_anomalies_are_many():
    scores = np.arange(10000) / 10000
    flagged = np.arange(10000) % 5 == 0
    chosen = thin_out(np.ones(10000, dtype=bool), flagged, scores, 1000)
    assert len(chosen) <= 1000
    assert flagged[chosen].sum() == 500
    assert scores[chosen[flagged[chosen]]].min() >= 0.75, "the strongest anomalies are the ones kept"
    assert (~flagged[chosen]).sum() >= 490


def test_thin_out_only_picks_selected_rows():
    selected = np.arange(100) >= 60
    chosen = thin_out(selected, np.zeros(100, dtype=bool), np.zeros(100), 10)
    assert selected[chosen].all() and len(chosen) == 10


def test_latest_alerts_keeps_the_newest_update_of_each_incident_open_first():
    t = pd.Timestamp("2026-11-21T00:00:00Z")
    alerts = pd.DataFrame({"alert_id": ["a", "a", "b", "c"], "status": ["open", "closed", "closed", "open"],
                           "ended_at": [t, t + pd.Timedelta(minutes=1), t + pd.Timedelta(minutes=5), t],
                           "updated_at": [t, t + pd.Timedelta(minutes=2), t, t]})
    assert list(latest_alerts(alerts).alert_id) == ["c", "b", "a"]
    assert latest_alerts(alerts).set_index("alert_id").status["a"] == "closed"


def scores_table(config, start: datetime, count: int, first: int = 0, anomalies_every: int = 10) -> pa.Table:
    s = config.schema
    times = [start + timedelta(seconds=i) for i in range(count)]
    rows = [{s.event_id: f"e{first + i}", s.key: f"dev-{i % 3}", s.event_time: t,
             **{f: float(i) for f in config.features}, "anomaly_score": 0.9 if i % anomalies_every == 0 else 0.4,
             "is_anomaly": i % anomalies_every == 0, "top_features": ["cpu_pct"] if i % anomalies_every == 0 else None,
             "threshold": 0.7, "model_version": "1", "scored_at": t, "event_date": t.date()}
            for i, t in enumerate(times)]
    return pa.Table.from_pylist(rows, schema=arrow_schema(config, "scores"))


def append_scores(config, table: pa.Table) -> None:
    write_deltalake(config.lake_path("scores"), table, mode="append", partition_by=["event_date"])


def test_score_window_reads_the_last_minutes_across_partitions_and_then_only_new_files(lake_config):
    append_scores(lake_config, scores_table(lake_config, T0 - timedelta(hours=2), 60))          # outside the window
    append_scores(lake_config, scores_table(lake_config, T0, 1200, first=100))                  # 23:50 -> 00:10
    reader = LakeReader(lake_config)
    window = reader.score_window(10)
    assert window.rows == 600 and window.anomalies == 60
    assert window.end == T0 + timedelta(seconds=1199)
    assert window.keys == ["dev-0", "dev-1", "dev-2"]
    assert reader.score_window(10) is window, "an unchanged table is not read again"

    append_scores(lake_config, scores_table(lake_config, T0 + timedelta(seconds=1200), 30, first=5000))
    moved = reader.score_window(10)
    assert moved.rows == 600 and moved.end == T0 + timedelta(seconds=1229)
    assert list(moved.points.event_time) == sorted(moved.points.event_time)
    one_key = reader.score_window(10, key="dev-1")
    assert set(one_key.points.device_id) == {"dev-1"} and one_key.rows == 200


def test_a_range_too_large_to_read_is_narrowed_to_the_newest_files(lake_config, monkeypatch):
    for i in range(6):  # six files of 100 scores, one per 100 s
        append_scores(lake_config, scores_table(lake_config, T0 + timedelta(seconds=100 * i), 100, first=100 * i))
    monkeypatch.setattr("dashboard.data.MAX_WINDOW_ROWS", 250)
    window = LakeReader(lake_config).score_window(60)
    assert window.narrowed and window.rows == 200
    assert window.start == T0 + timedelta(seconds=399) and window.end == T0 + timedelta(seconds=599)


def test_compaction_neither_loses_nor_duplicates_rows(lake_config):
    for i in range(4):
        append_scores(lake_config, scores_table(lake_config, T0 + timedelta(seconds=100 * i), 100, first=100 * i))
    follower = DeltaFollower(lake_config.lake_path("scores"))
    follower.refresh()
    before = follower.rows("all", ["event_id"])
    DeltaTable(lake_config.lake_path("scores")).optimize.compact()
    follower.refresh()
    after = follower.rows("all", ["event_id"])
    assert sorted(after["event_id"].to_pylist()) == sorted(before["event_id"].to_pylist())
    assert after.num_rows == 400


def test_older_tables_without_newer_columns_still_read(lake_config):
    old = scores_table(lake_config, T0, 50).drop_columns(["top_features"])
    write_deltalake(lake_config.lake_path("scores"), old, partition_by=["event_date"])
    reader = LakeReader(lake_config)
    assert reader.score_window(10).rows == 50
    assert "top_features" not in reader.scored_event("e3", T0 + timedelta(seconds=3))


def test_a_table_with_deletion_vectors_reads_as_missing_and_says_why(lake_config):
    write_deltalake(lake_config.lake_path("scores"), scores_table(lake_config, T0, 10), partition_by=["event_date"],
                    configuration={"delta.enableDeletionVectors": "true"})
    reader = LakeReader(lake_config)
    assert reader.score_window(10) is None
    assert "deletionVectors" in reader.problems["scores"]


def test_a_table_replaced_under_the_reader_is_read_afresh(lake_config):
    import shutil

    append_scores(lake_config, scores_table(lake_config, T0, 100))
    reader = LakeReader(lake_config)
    assert reader.score_window(10).rows == 100
    shutil.rmtree(lake_config.lake_path("scores"))
    assert reader.score_window(10) is None
    append_scores(lake_config, scores_table(lake_config, T0, 30, first=1000))
    assert reader.score_window(10).rows == 30


def test_a_missing_lake_reads_as_empty(lake_config):
    reader = LakeReader(lake_config)
    assert reader.stream_stats().empty
    assert reader.score_window(10) is None
    assert reader.alerts() is None and reader.feature_summary() is None and reader.quarantine() is None
    assert reader.drift() is None and reader.labels().empty
    assert reader.score_distribution() is None
    assert reader.scored_event("e1", T0) is None


@pytest.mark.parametrize("last", [5, 40])
def test_stream_stats_returns_the_latest_batches_in_order(lake_config, last):
    for i in range(60):
        row = {"batch_id": i, "started_at": T0 + timedelta(seconds=i), "finished_at": T0 + timedelta(seconds=i, milliseconds=500),
               "duration_ms": 500, "rows_in": 10, "rows_valid": 10, "rows_quarantined": 0, "rows_scored": 10,
               "anomalies": 0, "bytes_in": 1500}
        write_deltalake(lake_config.lake_path("stream_stats"),
                        pa.Table.from_pylist([row], schema=arrow_schema(lake_config, "stream_stats")), mode="append")
    stats = LakeReader(lake_config).stream_stats(last)
    assert list(stats.batch_id) == list(range(60 - last, 60))
