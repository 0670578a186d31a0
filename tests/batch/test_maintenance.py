"""Table maintenance on real Delta tables: compaction of one day, VACUUM, baselines."""
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from deltalake import DeltaTable as RsDeltaTable

from batch import maintenance
from batch.maintenance import RETENTION_CHECK

DAY = date(2026, 11, 21)


def parquet_files(path: Path, partition: str) -> set[str]:
    return {p.name for p in (path / partition).glob("*.parquet")}


def test_compaction_touches_only_the_day_and_vacuum_removes_the_replaced_files(spark, lake):
    for part in range(3):   # three small appends per day, as micro-batches would write
        for day in (DAY, date(2026, 11, 22)):
            events, _ = lake.generate(datetime(day.year, day.month, day.day, 8 * part, tzinfo=timezone.utc), 40,
                                      seed=part, hours=1)
            lake.append_events(events)
    events_path = Path(lake.config.lake_path("events"))
    before = {d: parquet_files(events_path, f"event_date={d}") for d in ("2026-11-21", "2026-11-22")}
    assert len(before["2026-11-21"]) >= 3

    result = maintenance.compact(spark, lake.config, "events", DAY)
    assert result == {"files_added": 1, "files_removed": len(before["2026-11-21"])}
    assert parquet_files(events_path, "event_date=2026-11-22") == before["2026-11-22"], "other days untouched"
    assert lake.read("events").count() == 240

    spark.conf.set(RETENTION_CHECK, "true")
    maintenance.vacuum(spark, lake.config, "events", retention_hours=0)
    after = parquet_files(events_path, "event_date=2026-11-21")
    assert len(after) == 1 and not (after & before["2026-11-21"]), "the replaced files are gone"
    assert spark.conf.get(RETENTION_CHECK) == "true", "the safety check is back on for everyone else"
    assert len(RsDeltaTable(str(events_path)).to_pandas()) == 240, "delta-rs (the dashboard) still reads it"


def test_default_retention_keeps_recently_replaced_files(spark, lake):
    for hour in (1, 2):
        events, _ = lake.generate(datetime(2026, 11, 21, hour, tzinfo=timezone.utc), 20, hours=1)
        lake.append_events(events)
    path = Path(lake.config.lake_path("events"))
    before = parquet_files(path, "event_date=2026-11-21")
    maintenance.compact(spark, lake.config, "events", DAY)
    maintenance.vacuum(spark, lake.config, "events", retention_hours=lake.config.retrain.vacuum_retention_hours)
    assert len(parquet_files(path, "event_date=2026-11-21")) == len(before) + 1


def test_baselines_per_key_and_feature_replace_the_previous_ones(spark, lake):
    from features.engineering import build_features

    events, _ = lake.generate(datetime(2026, 11, 21, tzinfo=timezone.utc), 2000, anomaly_rate=0.0)
    lake.append_events(events)
    training = build_features(lake.read("events"), lake.config)
    maintenance.write_baselines(maintenance.baselines(training, lake.config, "old", 1), lake.config)
    maintenance.write_baselines(maintenance.baselines(training, lake.config, "2026-11-21", 7), lake.config)

    stored = RsDeltaTable(lake.config.lake_path("baselines")).to_pandas()
    features = list(lake.config.features)
    assert len(stored) == events.device_id.nunique() * len(features), "replaced, not appended"
    assert set(stored.window) == {"2026-11-21"} and set(stored.events_version) == {7}
    row = stored[(stored.device_id == "dev-0003") & (stored.feature == "temp_c")].iloc[0]
    values = events.loc[events.device_id == "dev-0003", "temp_c"]
    assert row["count"] == len(values)
    assert row["mean"] == pytest.approx(values.mean()) and row["std"] == pytest.approx(values.std())
    assert row.p01 <= row.p50 <= row.p99
    assert row.p50 == pytest.approx(np.median(values), abs=values.std() / 5)
