import numpy as np
import pandas as pd

from features.engineering import build_features, feature_matrix


def test_features_are_non_null_doubles_in_config_order(spark, default_config):
    events = spark.createDataFrame(
        [("e1", "d1", "2026-11-21 10:00:00", 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, None)],
        "event_id string, device_id string, event_time string, cpu_pct double, mem_pct double, temp_c double, "
        "disk_io_mbps double, net_in_mbps double, net_out_mbps double, latency_ms double, error_rate double",
    ).selectExpr("*", "to_date(event_time) as event_date")
    features = build_features(events, default_config)
    assert features.columns == ["event_id", "device_id", "event_time", *default_config.features, "event_date"]
    row = features.first()
    assert row.error_rate == 0.0  # missing optional metric imputed
    assert [row[c] for c in default_config.features[:7]] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]


def test_pandas_path_matches_spark_path():
    frame = pd.DataFrame({"a": [1.0, None], "b": [3, 4]})
    assert np.array_equal(feature_matrix(frame, ["b", "a"]), np.array([[3.0, 1.0], [4.0, 0.0]]))
