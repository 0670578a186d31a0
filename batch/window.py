"""The training window: which events a retrain reads, at which Delta version, and where its holdout starts.

The events table is read once at a pinned version (`versionAsOf`), so the rows
the model trains on and the `events_version` recorded with it agree even while
the stream keeps appending.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.catalog import table_path
from lakehouse.config import Config

ALL = "all"
QUANTILE_RELATIVE_ERROR = 1e-3


@dataclass(frozen=True)
class TrainingWindow:
    """One day of events (`day`), or everything so far (`day` None), at one version of `events`."""

    day: date | None
    events_version: int

    @property
    def label(self) -> str:
        return self.day.isoformat() if self.day else ALL


def last_complete_day(now: datetime) -> date:
    """The day before `now` in UTC: `event_date` partitions are UTC dates, and that is the newest complete one."""
    if now.tzinfo is None:
        now = now.astimezone()  # a naive time is the machine's local time
    return now.astimezone(timezone.utc).date() - timedelta(days=1)


def latest_version(spark: SparkSession, path: str) -> int:
    from delta.tables import DeltaTable

    return int(DeltaTable.forPath(spark, path).history(1).first().version)


def read_window(spark: SparkSession, config: Config, day: date | None,
                version: int | None = None) -> tuple[DataFrame, TrainingWindow]:
    """The window's events, read at `version` of `events` (default: the latest)."""
    version = latest_version(spark, table_path(config, "events")) if version is None else version
    return read_days(spark, config, "events", day, version), TrainingWindow(day=day, events_version=version)


def read_days(spark: SparkSession, config: Config, table: str, day: date | None, version: int | None = None) -> DataFrame:
    """A table partitioned by `event_date`: one day's partition (None = all), optionally at a version."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    frame = reader.load(table_path(config, table))
    return frame if day is None else frame.filter(F.col("event_date") == F.lit(day))


def holdout_cutoff(frame: DataFrame, time_col: str, fraction: float) -> datetime:
    """The event time from which the latest `fraction` of the rows is held out (approximate quantile)."""
    quantiles = frame.select(_epoch_col(time_col).alias("_t")).approxQuantile("_t", [1.0 - fraction],
                                                                               QUANTILE_RELATIVE_ERROR)
    if not quantiles:
        raise ValueError("no events in the window to hold out")
    (seconds,) = quantiles
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def split_at(frame: DataFrame, time_col: str, cutoff: datetime) -> tuple[DataFrame, DataFrame]:
    """(before the cutoff, from the cutoff on) by event time."""
    at = F.lit(cutoff.timestamp())
    return frame.filter(_epoch_col(time_col) < at), frame.filter(_epoch_col(time_col) >= at)


def _epoch_col(time_col: str):
    return F.col(time_col).cast("double")
