"""Incident alerts: anomalies on one key within the gap are one incident, grown in place, closed after the gap."""
from datetime import datetime, timedelta, timezone

import pandas as pd
from deltalake import DeltaTable

from lakehouse.catalog import alerts_schema, ensure_tables
from streaming.alerts import incident_updates, merge_incidents

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)
ANOMALY_SCHEMA = "device_id string, event_time timestamp, anomaly_score double, top_features array<string>, model_version string"


def burst(device, start, count, every_seconds=6, peak_at=None, base=0.7):
    """`count` anomalies on one device; the one at index `peak_at` is the strongest."""
    return [(device, start + timedelta(seconds=i * every_seconds),
             0.95 if i == peak_at else base + (i % 7) / 100, ["cpu_pct", "latency_ms"] if i == peak_at else ["mem_pct"], "3")
            for i in range(count)]


def plan(spark, config, anomalies, open_alerts=None, clock=None, now=NOW):
    anomalies_df = spark.createDataFrame(anomalies, ANOMALY_SCHEMA)
    open_df = spark.createDataFrame(open_alerts or [], alerts_schema(config))
    clock = clock or max(a[1] for a in anomalies)
    return incident_updates(open_df, anomalies_df, config, clock, now).orderBy("started_at").collect()


def test_a_burst_of_50_anomalies_on_one_device_is_one_alert(spark, lake_config):
    anomalies = burst("dev-7", T0, 50, peak_at=31) + [("dev-2", T0 + timedelta(minutes=1), 0.8, ["temp_c"], "3")]
    alerts = [a for a in plan(spark, lake_config, anomalies) if a.device_id == "dev-7"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.anomalies == 50
    assert alert.peak_score == 0.95 and alert.top_features == ["cpu_pct", "latency_ms"] and alert.model_version == "3"
    assert (alert.started_at, alert.ended_at) == (naive(T0), naive(T0 + timedelta(seconds=49 * 6)))
    assert alert.status == "open" and alert.closed_at is None
    assert alert.alert_id == "dev-7@2026-11-21T10:00:00.000000Z"


def test_two_bursts_far_apart_are_two_alerts_and_the_first_is_closed(spark, lake_config):
    second = T0 + timedelta(minutes=30)
    alerts = plan(spark, lake_config, burst("dev-7", T0, 20, peak_at=3) + burst("dev-7", second, 20, peak_at=9, base=0.6))
    assert [(a.anomalies, a.status) for a in alerts] == [(20, "closed"), (20, "open")]
    assert alerts[0].closed_at == naive(NOW) and alerts[0].ended_at == naive(T0 + timedelta(seconds=19 * 6))
    assert alerts[1].started_at == naive(second)
    assert len({a.alert_id for a in alerts}) == 2


def test_a_gap_just_within_the_limit_keeps_one_incident(spark, lake_config):
    gap = timedelta(seconds=lake_config.alerts.gap_seconds)
    anomalies = burst("dev-1", T0, 3) + burst("dev-1", T0 + timedelta(seconds=12) + gap, 3)
    assert [a.anomalies for a in plan(spark, lake_config, anomalies)] == [6]
    anomalies = burst("dev-1", T0, 3) + burst("dev-1", T0 + timedelta(seconds=12, microseconds=1) + gap, 3)
    assert [a.anomalies for a in plan(spark, lake_config, anomalies)] == [3, 3]


def test_an_incident_growing_across_batches_is_one_alert_updated_in_place(spark, tmp_path):
    from conftest import config_in

    config = config_in(tmp_path / "lake")
    ensure_tables(spark, config)
    path = config.lake_path("alerts")

    def step(anomalies, clock=None, now=NOW):
        open_alerts = spark.read.format("delta").load(path).filter("status = 'open'").collect()
        rows = plan(spark, config, anomalies, open_alerts, clock, now)
        merge_incidents(spark, config, spark.createDataFrame(rows, alerts_schema(config)))
        return DeltaTable(path).to_pandas().sort_values("started_at")

    first = step(burst("dev-3", T0, 25, peak_at=2))
    assert list(first.anomalies) == [25]
    later = NOW + timedelta(minutes=1)
    second = step(burst("dev-3", T0 + timedelta(seconds=25 * 6), 25, peak_at=20, base=0.65), now=later)
    assert len(second) == 1
    grown = second.iloc[0]
    assert grown.alert_id == first.iloc[0].alert_id
    assert grown.anomalies == 50 and grown.status == "open"
    assert grown.ended_at == pd.Timestamp(T0 + timedelta(seconds=49 * 6))
    assert grown.updated_at == pd.Timestamp(later)
    # The stream's clock moves on (other devices keep reporting): the incident closes, nothing else changes.
    closed = step([("dev-4", T0 + timedelta(hours=1), 0.7, ["temp_c"], "3")], now=later + timedelta(hours=1))
    dev3 = closed[closed.device_id == "dev-3"].iloc[0]
    assert (dev3.status, dev3.anomalies, dev3.closed_at) == ("closed", 50, pd.Timestamp(later + timedelta(hours=1)))
    # A late anomaly after its incident closed does not reopen it: it is an incident of its own.
    late = step([("dev-3", T0 + timedelta(minutes=6), 0.9, ["cpu_pct"], "3")], clock=T0 + timedelta(hours=1))
    dev3 = late[late.device_id == "dev-3"]
    assert list(dev3.anomalies) == [50, 1] and list(dev3.status) == ["closed", "closed"]


def test_nothing_changes_without_news(spark, lake_config):
    open_alert = plan(spark, lake_config, burst("dev-5", T0, 5))[0]
    unchanged = plan(spark, lake_config, [("dev-6", T0 + timedelta(minutes=2), 0.7, ["temp_c"], "3")], [open_alert])
    assert [a.device_id for a in unchanged] == ["dev-6"]


def naive(moment):
    """PySpark collects timestamps as naive datetimes in the local time zone."""
    return moment.astimezone().replace(tzinfo=None)
