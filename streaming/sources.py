"""Streaming sources: each returns raw records plus where and when they arrived.

The columns are named as in lakehouse/columns.py (`_isoguard_value`, `_isoguard_source_file`,
`_isoguard_arrived_at`), outside the names an event field may have, so that a field called
`value` or `offset` cannot collide with them.

A local landing folder is read through the landing planner (streaming/landing.py):
Spark's file source reads only the planner's staging folder, where every file is a
checked, immutable copy under a unique name, and reads it whole in arrival order.
Records are split on `\n` only (a trailing `\r` of CRLF is JSON whitespace, so
CRLF files work; a bare `\r` inside a record is whitespace, not a line end).
"""
from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.columns import ARRIVED, RAW, SOURCE
from lakehouse.config import Config
from streaming.kafka_source import kafka_source, reader_options
from streaming.landing import LandingPlanner, planner_root, raw_columns


def landing_planner(config: Config) -> LandingPlanner | None:
    """The planner of a local landing folder (None for Kafka or a landing folder on an object store)."""
    root = planner_root(config) if config.source.kind == "files" else None
    return LandingPlanner(config.landing_path, root) if root else None


def file_source(spark: SparkSession, config: Config, planner: LandingPlanner | None = None) -> DataFrame:
    """Every line of every file that lands in the landing folder, as raw text.

    Reading text rather than JSON keeps each malformed line intact for quarantine.
    Files whose names start with '.' or '_' are ignored, so writers land a file by
    writing a hidden temporary file and renaming it. With a planner, Spark reads its
    staging folder (and deletes each copy once its batch is committed); without one
    (an object store), the landing folder itself.
    """
    landing = config.landing_path
    if "://" not in landing:
        Path(landing).mkdir(parents=True, exist_ok=True)
    reader = spark.readStream.format("text").option("lineSep", "\n")
    # Spark takes one of the two caps (whole files, at least one per batch): a file count if set, else bytes.
    if config.source.max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", config.source.max_files_per_trigger)
    elif config.source.max_bytes_per_trigger:
        reader = reader.option("maxBytesPerTrigger", config.source.max_bytes_per_trigger)
    if planner is None:
        return reader.load(landing).select(
            F.col("value").alias(RAW),
            F.col("_metadata.file_path").alias(SOURCE),
            F.col("_metadata.file_modification_time").alias(ARRIVED),
        )
    source_file, report = raw_columns(landing)
    return reader.option("cleanSource", "delete").load(str(planner.staging)).select(
        F.col("value").alias(RAW),
        source_file,
        F.col("_metadata.file_modification_time").alias(ARRIVED),
        report,
    )


SOURCES = {"files": file_source, "kafka": kafka_source}
# Jar groups (lakehouse/jars.py) a source needs on Spark's classpath beyond Delta.
SOURCE_JARS = {"files": (), "kafka": ("kafka",)}


def open_source(spark: SparkSession, config: Config, planner: LandingPlanner | None = None) -> DataFrame:
    if planner is not None:
        return file_source(spark, config, planner)
    return SOURCES[config.source.kind](spark, config)


def jar_groups(config: Config) -> tuple[str, ...]:
    """The jar groups a SparkSession reading this config's source needs."""
    return ("delta", *SOURCE_JARS[config.source.kind])


def describe_source(config: Config) -> str:
    """Where the stream reads from, for logs (no client settings: they may hold secrets)."""
    if config.source.kind == "kafka":
        return f"Kafka topic {config.source.kafka.topic} at {reader_options(config)['kafka.bootstrap.servers']}"
    return f"landing {config.landing_path}"
