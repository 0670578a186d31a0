import pandas as pd

from dashboard.data import kpis, thin_out


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
    assert k.model_version == "2"
    assert k.quarantined == 5


def test_kpis_of_an_empty_stream():
    k = kpis(pd.DataFrame())
    assert k.events_per_second is None and k.model_version is None and k.batches == 0


def test_thin_out_keeps_every_anomaly():
    frame = pd.DataFrame({"x": range(10000), "is_anomaly": [i % 1000 == 0 for i in range(10000)]})
    thinned = thin_out(frame, 500)
    assert len(thinned) <= 500
    assert thinned.is_anomaly.sum() == 10
    assert thinned.x.is_monotonic_increasing and thinned.x.min() < 100 and thinned.x.max() > 9800


def test_thin_out_leaves_room_for_normal_scores_when_anomalies_are_many():
    frame = pd.DataFrame({"x": range(10000), "anomaly_score": [i / 10000 for i in range(10000)],
                          "is_anomaly": [i % 5 == 0 for i in range(10000)]})
    thinned = thin_out(frame, 1000)
    assert len(thinned) <= 1000
    assert thinned.is_anomaly.sum() == 500
    assert thinned[thinned.is_anomaly].anomaly_score.min() >= 0.75, "the strongest anomalies are the ones kept"
    assert (~thinned.is_anomaly).sum() >= 490
