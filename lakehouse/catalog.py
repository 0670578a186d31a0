"""The table catalog: every Delta table's name, schema, partitioning and location.

Schemas that carry event fields are derived from the config, so a new event
schema is a change of the TOML file only.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lakehouse.config import Config, FieldSpec

SPARK_TYPES = {
    "string": T.StringType(),
    "double": T.DoubleType(),
    "long": T.LongType(),
    "timestamp": T.TimestampType(),
}

# delta-rs (the dashboard's reader) must be able to read every table.
TABLE_PROPERTIES = {
    "delta.enableDeletionVectors": "false",
    "delta.appendOnly": "false",
    # Data-skipping statistics only for the leading identity columns (id, key, event time):
    # cheaper appends, and those are the columns queries filter on.
    "delta.dataSkippingNumIndexedCols": "4",
}


@dataclass(frozen=True)
class Table:
    name: str
    schema: T.StructType
    partition_by: tuple[str, ...] = ()


def event_field(spec: FieldSpec) -> T.StructField:
    return T.StructField(spec.name, SPARK_TYPES[spec.type], nullable=not spec.required)


def events_schema(config: Config) -> T.StructType:
    fields = [event_field(f) for f in config.schema.fields]
    return T.StructType(
        fields
        + [
            T.StructField("ingested_at", T.TimestampType(), False),
            T.StructField("source_file", T.StringType(), True),
            T.StructField("event_date", T.DateType(), False),
        ]
    )


def quarantine_schema() -> T.StructType:
    return T.StructType(
        [
            T.StructField("raw", T.StringType(), True),
            T.StructField("reason", T.StringType(), False),
            T.StructField("detail", T.StringType(), True),
            T.StructField("source_file", T.StringType(), True),
            T.StructField("batch_id", T.LongType(), False),
            T.StructField("ingested_at", T.TimestampType(), False),
            T.StructField("ingest_date", T.DateType(), False),
            # The record's length in bytes as it arrived; `raw` holds at most source.max_record_bytes of it.
            # Added for lakes created before it by ensure_tables (null in their older rows).
            T.StructField("raw_bytes", T.LongType(), True),
        ]
    )


def scores_schema(config: Config) -> T.StructType:
    s = config.schema
    return T.StructType(
        [
            T.StructField(s.event_id, T.StringType(), False),
            T.StructField(s.key, T.StringType(), False),
            T.StructField(s.event_time, T.TimestampType(), False),
        ]
        + [T.StructField(name, T.DoubleType(), True) for name in config.features]
        + [
            T.StructField("anomaly_score", T.DoubleType(), False),
            T.StructField("is_anomaly", T.BooleanType(), False),
            T.StructField("top_features", T.ArrayType(T.StringType()), True),
            T.StructField("threshold", T.DoubleType(), False),
            T.StructField("model_version", T.StringType(), False),
            T.StructField("scored_at", T.TimestampType(), False),
            T.StructField("event_date", T.DateType(), False),
        ]
    )


def stream_stats_schema() -> T.StructType:
    long, double = T.LongType(), T.DoubleType()
    return T.StructType(
        [
            T.StructField("batch_id", long, False),
            T.StructField("started_at", T.TimestampType(), False),
            T.StructField("finished_at", T.TimestampType(), False),
            T.StructField("duration_ms", long, False),
            T.StructField("rows_in", long, False),
            T.StructField("rows_valid", long, False),
            T.StructField("rows_quarantined", long, False),
            T.StructField("rows_scored", long, False),
            T.StructField("anomalies", long, False),
            T.StructField("anomaly_rate", double, True),
            T.StructField("input_rate", double, True),
            T.StructField("processing_rate", double, True),
            T.StructField("bytes_in", long, False),
            T.StructField("latency_p50_ms", double, True),
            T.StructField("latency_p95_ms", double, True),
            T.StructField("latency_max_ms", double, True),
            T.StructField("model_version", T.StringType(), True),
            T.StructField("threshold", double, True),
            T.StructField("model_status", T.StringType(), True),
            # Valid events whose summary window was already final when they arrived (feature_summary leaves them out),
            # and the newest event time so far, which decides that across restarts.
            T.StructField("rows_late", long, True),
            T.StructField("max_event_time", T.TimestampType(), True),
            T.StructField("query_id", T.StringType(), True),
            # Valid events dropped because their id was seen within the watermark: per micro-batch,
            # rows_in = rows_valid (events) + rows_quarantined + rows_duplicate.
            T.StructField("rows_duplicate", long, True),
            # What waits at the source after this batch: files not yet read (file source) or
            # messages behind the latest offsets (Kafka, as last reported: at the previous batch).
            T.StructField("backlog", long, True),
            # Events stored earlier without a model (none was available) that this batch scored
            # (rows_scored, anomalies and anomaly_rate stay about the batch's own events; these are in scores and alerts).
            T.StructField("rows_backfilled", long, True),
            # ... and the ingestion time up to which such events are now scored (null: no backfill in this batch).
            T.StructField("backfilled_through", T.TimestampType(), True),
            # Delta appends of this batch retried after an I/O error (storage briefly unavailable).
            T.StructField("commit_retries", long, True),
            # Landed files reported in quarantine (with their path) by the landing planner in this batch:
            # read again because they changed after they were read, and not read at all (unreadable,
            # symlink, special file, deleted before it could be read). Null for Kafka.
            T.StructField("files_changed", long, True),
            T.StructField("files_rejected", long, True),
        ]
    )


def alerts_schema(config: Config) -> T.StructType:
    """One incident: anomalies on one key with no gap longer than the configured one between them."""
    return T.StructType(
        [
            T.StructField("alert_id", T.StringType(), False),
            T.StructField(config.schema.key, T.StringType(), False),
            T.StructField("started_at", T.TimestampType(), False),   # event time of the first anomaly
            T.StructField("ended_at", T.TimestampType(), False),     # event time of the latest anomaly
            T.StructField("anomalies", T.LongType(), False),
            T.StructField("peak_score", T.DoubleType(), False),
            T.StructField("top_features", T.ArrayType(T.StringType()), True),
            T.StructField("status", T.StringType(), False),          # "open" or "closed"
            T.StructField("model_version", T.StringType(), True),
            T.StructField("updated_at", T.TimestampType(), False),
            T.StructField("closed_at", T.TimestampType(), True),
        ]
    )


def feature_summary_schema(config: Config) -> T.StructType:
    """One event-time window x feature (x key, where the config asks for it; the key is null for all keys)."""
    double = T.DoubleType()
    return T.StructType(
        [
            T.StructField("window_start", T.TimestampType(), False),
            T.StructField("window_end", T.TimestampType(), False),
            T.StructField("feature", T.StringType(), False),
            T.StructField(config.schema.key, T.StringType(), True),
            T.StructField("count", T.LongType(), False),
            T.StructField("mean", double, True),
            T.StructField("std", double, True),
            T.StructField("min", double, True),
            T.StructField("max", double, True),
            T.StructField("p50", double, True),
            T.StructField("p95", double, True),
            T.StructField("p99", double, True),
            T.StructField("written_at", T.TimestampType(), False),
            T.StructField("window_date", T.DateType(), False),
        ]
    )


def labels_schema(config: Config) -> T.StructType:
    """One analyst verdict on an event or an alert (appended by the dashboard, read by the nightly job)."""
    return T.StructType(
        [
            T.StructField("label_id", T.StringType(), False),
            T.StructField("target", T.StringType(), False),          # "event" or "alert"
            T.StructField("target_id", T.StringType(), False),       # event id or alert id
            T.StructField(config.schema.key, T.StringType(), True),
            T.StructField("started_at", T.TimestampType(), True),    # event time (event) or incident start (alert)
            T.StructField("ended_at", T.TimestampType(), True),      # same as started_at for an event
            T.StructField("verdict", T.StringType(), False),         # "true_positive" or "false_positive"
            T.StructField("analyst", T.StringType(), True),
            T.StructField("note", T.StringType(), True),
            T.StructField("labelled_at", T.TimestampType(), False),
        ]
    )


def baselines_schema(config: Config) -> T.StructType:
    """One key x feature: reference statistics from the nightly job (replaced on each run)."""
    double = T.DoubleType()
    return T.StructType(
        [
            T.StructField(config.schema.key, T.StringType(), False),
            T.StructField("feature", T.StringType(), False),
            T.StructField("count", T.LongType(), False),
            T.StructField("mean", double, True),
            T.StructField("std", double, True),
            T.StructField("p01", double, True),
            T.StructField("p50", double, True),
            T.StructField("p99", double, True),
            T.StructField("window", T.StringType(), False),
            T.StructField("events_version", T.LongType(), True),
            T.StructField("computed_at", T.TimestampType(), False),
        ]
    )


def tables(config: Config) -> dict[str, Table]:
    return {
        t.name: t
        for t in (
            Table("events", events_schema(config), ("event_date",)),
            Table("quarantine", quarantine_schema(), ("ingest_date",)),
            Table("scores", scores_schema(config), ("event_date",)),
            Table("stream_stats", stream_stats_schema()),
            Table("alerts", alerts_schema(config)),
            Table("feature_summary", feature_summary_schema(config), ("window_date",)),
            Table("labels", labels_schema(config)),
            Table("baselines", baselines_schema(config)),
        )
    }


def table_path(config: Config, name: str) -> str:
    if name not in tables(config):
        raise KeyError(f"unknown table {name!r}")
    return config.lake_path(name)


def ensure_tables(spark: SparkSession, config: Config) -> None:
    """Create every missing table (empty, with its schema and partitioning); add columns a newer release defines."""
    from delta.tables import DeltaTable

    for table in tables(config).values():
        path = table_path(config, table.name)
        if DeltaTable.isDeltaTable(spark, path):
            existing = set(DeltaTable.forPath(spark, path).toDF().columns)
            missing = [f for f in table.schema.fields if f.name not in existing]
            if missing:
                columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
                spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({columns})")
            continue
        builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(table.schema)
        if table.partition_by:
            builder = builder.partitionedBy(*table.partition_by)
        for key, value in TABLE_PROPERTIES.items():
            builder = builder.property(key, value)
        builder.execute()
