"""Incident alerts: anomalies on one key, no more than `alerts.gap` apart, are one incident -> `alerts`.

An incident opens with its first anomaly, grows (end, count, peak) while more
anomalies on its key arrive within the gap of it, and closes once the stream's
event time (the newest event time scored so far) is more than the gap past its
last anomaly. peak_score, top_features and model_version come from its
strongest anomaly. A closed incident is never changed again: an anomaly
arriving after its incident closed starts a new one.

    gold = start_alerts(spark, config)    # scores (Delta stream) -> alerts (Delta MERGE)
"""
from __future__ import annotations

from datetime import datetime, timezone

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lakehouse.catalog import alerts_schema, table_path
from lakehouse.config import Config
from lakehouse.delta_append import Idempotency, tagged_commit
from lakehouse.eventtime import MICROS, from_micros, to_micros
from streaming.gold import GoldQuery, GoldWriter, read_table_stream

QUERY_NAME = "isoguard-alerts"


def _peak(score: Column, top_features: Column, model_version: Column) -> Column:
    # Ordered by score first: max() of these structs is the strongest anomaly.
    return F.struct(score.alias("score"), top_features.alias("top_features"), model_version.alias("model_version"))


def incident_updates(open_alerts: DataFrame, anomalies: DataFrame, config: Config,
                     clock: datetime, now: datetime) -> DataFrame:
    """The incidents to upsert into `alerts` after a batch of anomalies, as rows of `alerts_schema`.

    `open_alerts`: the open incidents (rows of `alerts`). `anomalies`: key,
    event time, anomaly_score, top_features, model_version. `clock`: the newest
    event time seen so far (of all scored events, not only anomalies); incidents
    ending more than the gap before it are closed. `now` stamps `updated_at`
    (and `closed_at`). Returned: every incident that grew, started or closed;
    an open incident keeps its alert_id, a new one gets `<key>@<first anomaly time>`.
    """
    key, event_time = config.schema.key, config.schema.event_time
    gap = config.alerts.gap_seconds * MICROS
    known = open_alerts.select(
        key, "alert_id", "started_at", "ended_at", "anomalies",
        _peak(F.col("peak_score"), F.col("top_features"), F.col("model_version")).alias("peak"),
        F.lit(False).alias("grew"))
    fresh = anomalies.select(
        key, F.lit(None).cast("string").alias("alert_id"),
        F.col(event_time).alias("started_at"), F.col(event_time).alias("ended_at"),
        F.lit(1).cast("long").alias("anomalies"),
        _peak(F.col("anomaly_score"), F.col("top_features"), F.col("model_version")).alias("peak"),
        F.lit(True).alias("grew"))
    # Sessionize per key: a segment starts a new incident when it begins more than the gap after
    # every segment before it has ended.
    by_time = Window.partitionBy(key).orderBy("started_at", "ended_at")
    reach = F.max(F.unix_micros("ended_at")).over(by_time.rowsBetween(Window.unboundedPreceding, -1))
    segments = (known.unionByName(fresh)
                .withColumn("starts", (reach.isNull() | (F.unix_micros("started_at") - reach > gap)).cast("long"))
                .withColumn("incident", F.sum("starts").over(by_time.rowsBetween(Window.unboundedPreceding, 0))))
    incidents = segments.groupBy(key, "incident").agg(
        F.max("alert_id").alias("alert_id"),
        F.min("started_at").alias("started_at"),
        F.max("ended_at").alias("ended_at"),
        F.sum("anomalies").alias("anomalies"),
        F.max("peak").alias("peak"),
        F.max("grew").alias("grew"),
    )
    closed = F.unix_micros("ended_at") < F.lit(to_micros(clock) - gap)
    first_anomaly = F.date_format("started_at", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")  # the session time zone is UTC
    updates = incidents.filter(F.col("grew") | closed).select(
        F.coalesce("alert_id", F.concat_ws("@", key, first_anomaly)).alias("alert_id"),
        key, "started_at", "ended_at", "anomalies",
        F.col("peak.score").alias("peak_score"),
        F.col("peak.top_features").alias("top_features"),
        F.when(closed, "closed").otherwise("open").alias("status"),
        F.col("peak.model_version").alias("model_version"),
        F.lit(now).cast("timestamp").alias("updated_at"),
        F.when(closed, F.lit(now).cast("timestamp")).alias("closed_at"),
    )
    return updates.select(*[field.name for field in alerts_schema(config).fields])


def merge_incidents(spark: SparkSession, config: Config, updates: DataFrame) -> None:
    """Upsert incidents by alert_id; a closed incident is never changed."""
    from delta.tables import DeltaTable

    (DeltaTable.forPath(spark, table_path(config, "alerts")).alias("a")
     .merge(updates.alias("u"), "a.alert_id = u.alert_id")
     .whenMatchedUpdateAll(condition="a.status = 'open'")
     .whenNotMatchedInsertAll()
     .execute())


class AlertWriter(GoldWriter):
    """`foreachBatch` target: scored events -> incidents, one idempotent MERGE per micro-batch."""

    def __init__(self, config: Config):
        super().__init__(config)
        self._clock: int | None = None   # epoch micros of the newest scored event time seen

    def write(self, batch: DataFrame, token: Idempotency) -> None:
        s, spark = self.config.schema, batch.sparkSession
        newest = batch.agg(F.unix_micros(F.max(s.event_time))).first()[0]
        if newest is None:
            return
        self._clock = max(newest, self._clock or newest)
        clock = from_micros(self._clock)
        anomalies = batch.filter(F.col("is_anomaly"))
        open_alerts = (spark.read.format("delta").load(table_path(self.config, "alerts"))
                       .filter(F.col("status") == "open"))
        # Incidents are few: computing them once on the driver keeps the MERGE source fixed.
        rows = incident_updates(open_alerts, anomalies, self.config, clock, datetime.now(timezone.utc)).collect()
        if not rows:
            return
        updates = spark.createDataFrame(rows, alerts_schema(self.config))
        def merge(attempt: int) -> None:
            # MERGE takes its token from this query's own session settings, for this commit only.
            with tagged_commit(spark, token):
                merge_incidents(spark, self.config, updates)

        self.retry.run(f"alerts batch {token.version}: merge into alerts", merge)


def start_alerts(spark: SparkSession, config: Config, available_now: bool = False) -> GoldQuery:
    """scores (Delta stream) -> alerts; the tables must exist (`ensure_tables`)."""
    s = config.schema
    scores = read_table_stream(spark, config, "scores").select(
        s.key, s.event_time, "is_anomaly", "anomaly_score", "top_features", "model_version")
    writer = AlertWriter(config)
    query = writer.start(scores.writeStream.queryName(QUERY_NAME),
                         config.lake_path(config.alerts.checkpoint), config.alerts.trigger_seconds, available_now)
    return GoldQuery(query, writer)
