"""Table maintenance after a retrain: baselines, compaction of the day's partitions, VACUUM.

- `baselines` (replaced on each run): per key and feature, count, mean, std
  and the 1st, 50th and 99th percentiles (percentile_approx) of the rows the
  model trained on, i.e. after hygiene: what "normal" looked like for that key.
- OPTIMIZE (`executeCompaction`) of the window's `event_date` partitions of
  `events` and `scores` (every partition for the open-ended window): the
  stream writes one small file per micro-batch, compaction makes them few.
- VACUUM of those tables and `baselines` with `retrain.vacuum_retention_hours`.
  Below Delta's default of 168 h, Delta's safety check is lifted for that call
  only: files younger than that may still be read by a running query, and the
  configured value is the operator's decision.
"""
from __future__ import annotations

import logging
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.catalog import baselines_schema, table_path
from lakehouse.config import Config

log = logging.getLogger(__name__)

COMPACTED = ("events", "scores")
VACUUMED = ("events", "scores", "baselines")
DELTA_DEFAULT_RETENTION_HOURS = 168.0
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


def baselines(training: DataFrame, config: Config, window: str, events_version: int | None) -> DataFrame:
    """One row per key x feature with reference statistics, in the catalog's `baselines` schema."""
    key = config.schema.key
    long = training.unpivot([key], list(config.features), "feature", "value")
    stats = long.groupBy(key, "feature").agg(
        F.count("value").alias("count"), F.mean("value").alias("mean"), F.stddev("value").alias("std"),
        F.percentile_approx("value", [0.01, 0.5, 0.99]).alias("_q"))
    extra = {"p01": F.col("_q")[0], "p50": F.col("_q")[1], "p99": F.col("_q")[2], "window": F.lit(window),
             "events_version": F.lit(events_version), "computed_at": F.current_timestamp()}
    return stats.select(*[(extra[f.name] if f.name in extra else F.col(f.name)).cast(f.dataType).alias(f.name)
                          for f in baselines_schema(config).fields])


def write_baselines(frame: DataFrame, config: Config) -> None:
    frame.write.format("delta").mode("overwrite").save(table_path(config, "baselines"))


def compact(spark: SparkSession, config: Config, table: str, day: date | None) -> dict[str, int]:
    """OPTIMIZE one day's partition of a table partitioned by event_date (None: the whole table)."""
    from delta.tables import DeltaTable

    builder = DeltaTable.forPath(spark, table_path(config, table)).optimize()
    if day is not None:
        builder = builder.where(f"event_date = '{day.isoformat()}'")
    metrics = builder.executeCompaction().select("metrics.numFilesAdded", "metrics.numFilesRemoved").first()
    return {"files_added": int(metrics.numFilesAdded), "files_removed": int(metrics.numFilesRemoved)}


def vacuum(spark: SparkSession, config: Config, table: str, retention_hours: float) -> None:
    from delta.tables import DeltaTable

    lift_check = retention_hours < DELTA_DEFAULT_RETENTION_HOURS
    previous = spark.conf.get(RETENTION_CHECK, "true")
    if lift_check:
        spark.conf.set(RETENTION_CHECK, "false")
    try:
        DeltaTable.forPath(spark, table_path(config, table)).vacuum(retention_hours)
    finally:
        if lift_check:
            spark.conf.set(RETENTION_CHECK, previous)


def maintain(spark: SparkSession, config: Config, day: date | None, training: DataFrame, window: str,
             events_version: int | None) -> dict[str, dict[str, int]]:
    """Baselines from the training rows, then compaction and VACUUM; returns the compaction counts per table."""
    write_baselines(baselines(training, config, window, events_version), config)
    compacted = {table: compact(spark, config, table, day) for table in COMPACTED}
    for table in VACUUMED:
        vacuum(spark, config, table, config.retrain.vacuum_retention_hours)
    log.warning("maintenance: baselines replaced; compacted %s; vacuumed %s (retention %g h)",
                ", ".join(f"{t} {c['files_removed']} -> {c['files_added']} files" for t, c in compacted.items()),
                ", ".join(VACUUMED), config.retrain.vacuum_retention_hours)
    return compacted
