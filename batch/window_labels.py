"""Labels for a window's events: analyst verdicts (the `labels` table) and, where present, ground-truth files.

A verdict on an event covers that event; a verdict on an alert covers every
event of the alert's key between its `started_at` and `ended_at`. When several
verdicts cover one event, the latest (`labelled_at`) wins, so an analyst can
change their mind. The result is one row per event id: `label` 1 (anomaly) or 0.

Ground-truth files are optional: where there are none, the retrain notes it in
one log line. Their folder is checked before Spark reads it, since Spark's
reader logs a FileNotFoundException stack trace for a missing path even when
the caller handles the error.
"""
from __future__ import annotations

import logging

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config import Config

ANOMALY, NORMAL = "true_positive", "false_positive"
LABEL = "label"
log = logging.getLogger("isoguard.labels")
_noted_absent: set[str] = set()  # folders already noted as absent in this process: one note each


def _any_file(spark: SparkSession, pattern: str) -> bool:
    """Whether a Hadoop glob matches anything (local disk or an object store), without Spark's reader."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(pattern)
    found = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).globStatus(path)
    return found is not None and len(found) > 0


def verdicts_per_event(window: DataFrame, labels: DataFrame, config: Config) -> DataFrame:
    """(event id, label) for every event of `window` that an analyst verdict covers."""
    s = config.schema
    labels = labels.filter(F.col("verdict").isin(ANOMALY, NORMAL))
    events = window.select(s.event_id, s.key, s.event_time).alias("e")
    on_events = (labels.filter(F.col("target") == "event")
                 .select(F.col("target_id").alias(s.event_id), "verdict", "labelled_at")
                 .join(events.select(s.event_id), s.event_id))
    alerts = labels.filter(F.col("target") == "alert").alias("a")
    covered = (F.col(f"e.{s.key}") == F.col(f"a.{s.key}")) & \
        F.col(f"e.{s.event_time}").between(F.col("a.started_at"), F.col("a.ended_at"))
    on_alerts = events.join(alerts, covered).select(F.col(f"e.{s.event_id}").alias(s.event_id), "a.verdict",
                                                    "a.labelled_at")
    return (on_events.unionByName(on_alerts)
            .groupBy(s.event_id)
            .agg(F.max_by("verdict", "labelled_at").alias("verdict"))
            .select(s.event_id, (F.col("verdict") == ANOMALY).cast("int").alias(LABEL)))


def read_truth(spark: SparkSession, path: str, config: Config) -> DataFrame | None:
    """Ground-truth CSVs (event_id, is_anomaly[, kind]) such as the generator writes; None when there are none."""
    pattern = f"{path.rstrip('/')}/*.csv"
    if not _any_file(spark, pattern):
        if path not in _noted_absent:
            _noted_absent.add(path)
            log.info("no ground-truth files at %s: labels come from analyst verdicts only", pattern)
        return None
    try:
        truth = spark.read.csv(pattern, header=True,
                               schema="event_id string, is_anomaly int, kind string")
    except AnalysisException:  # no such folder, or no CSV files in it
        return None
    return truth.select(F.col("event_id").alias(config.schema.event_id), F.col("is_anomaly").alias(LABEL)) \
        .dropDuplicates([config.schema.event_id])


def combine(verdicts: DataFrame, truth: DataFrame | None, config: Config) -> DataFrame:
    """One label per event id: the analyst's verdict where there is one, else the ground truth."""
    if truth is None:
        return verdicts
    return verdicts.unionByName(truth.join(verdicts, config.schema.event_id, "left_anti"))
