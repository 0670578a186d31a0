"""Labels written by the dashboard (delta-rs) into the tables Spark creates, and read back by Spark."""
from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from dashboard.delta import arrow_schema
from dashboard.verdicts import add_label
from lakehouse.catalog import ensure_tables, tables


def test_every_catalog_table_reads_in_delta_rs_with_the_arrow_schema_the_dashboard_writes(spark, lake_config):
    ensure_tables(spark, lake_config)
    for name in tables(lake_config):
        read = pa.schema(DeltaTable(lake_config.lake_path(name)).schema().to_arrow())
        expected = arrow_schema(lake_config, name)
        assert [(f.name, f.nullable) for f in read] == [(f.name, f.nullable) for f in expected], name
        assert [str(f.type).replace("list<element:", "list<item:") for f in read] == \
               [str(f.type) for f in expected], name


def test_a_label_appended_by_the_dashboard_is_read_by_spark(spark, lake_config):
    ensure_tables(spark, lake_config)  # as the stream leaves the lake: labels exists, empty, created by Spark
    started = datetime(2026, 11, 21, 0, 4, 30, tzinfo=timezone.utc)
    ended = datetime(2026, 11, 21, 0, 19, 57, tzinfo=timezone.utc)
    written = add_label(lake_config, "alert", "dev-0000-20261121T000430", "dev-0000", started, ended,
                        "false_positive", analyst="ana", note="maintenance window")
    add_label(lake_config, "event", "g5-000000004485", "dev-0000", started, started, "true_positive")
    rows = spark.read.format("delta").load(lake_config.lake_path("labels")).orderBy("target").collect()
    assert [(r.target, r.target_id, r.verdict) for r in rows] == [
        ("alert", "dev-0000-20261121T000430", "false_positive"), ("event", "g5-000000004485", "true_positive")]
    alert = rows[0]
    assert alert.label_id == written["label_id"] and alert.device_id == "dev-0000"
    assert (alert.analyst, alert.note) == ("ana", "maintenance window")
    assert alert.started_at.replace(tzinfo=None) == spark_local(started) and rows[1].analyst is None


def spark_local(moment: datetime) -> datetime:
    """Spark returns timestamps as naive datetimes in the session time zone (the machine's)."""
    return moment.astimezone().replace(tzinfo=None)


@pytest.mark.parametrize("target, verdict", [("incident", "true_positive"), ("alert", "maybe")])
def test_labels_outside_the_contract_are_refused(lake_config, target, verdict):
    with pytest.raises(ValueError):
        add_label(lake_config, target, "x", None, None, None, verdict)
    assert not DeltaTable.is_deltatable(lake_config.lake_path("labels"))
