"""Streaming sources: each returns raw records plus where and when they arrived.

The columns are named as in lakehouse/columns.py (`_isoguard_value`, `_isoguard_source_file`,
`_isoguard_arrived_at`), outside the names an event field may have, so that a field called
`value` or `offset` cannot collide with them.
"""
from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.columns import ARRIVED, RAW, SOURCE
from lakehouse.config import Config
from streaming.kafka_source import kafka_source, reader_options


def file_source(spark: SparkSession, config: Config) -> DataFrame:
    """Every line of every file that lands in the landing folder, as raw text.

    Reading text rather than JSON keeps each malformed line intact for quarantine.
    Files whose names start with '.' or '_' are ignored, so writers land a file by
    writing a hidden temporary file and renaming it.
    """
    landing = config.landing_path
    if "://" not in landing:
        Path(landing).mkdir(parents=True, exist_ok=True)
    reader = spark.readStream.format("text")
    # Spark takes one of the two caps (whole files, at least one per batch): a file count if set, else bytes.
    if config.source.max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", config.source.max_files_per_trigger)
    elif config.source.max_bytes_per_trigger:
        reader = reader.option("maxBytesPerTrigger", config.source.max_bytes_per_trigger)
    return reader.load(landing).select(
        F.col("value").alias(RAW),
        F.col("_metadata.file_path").alias(SOURCE),
        F.col("_metadata.file_modification_time").alias(ARRIVED),
    )


SOURCES = {"files": file_source, "kafka": kafka_source}
# Jar groups (lakehouse/jars.py) a source needs on Spark's classpath beyond Delta.
SOURCE_JARS = {"files": (), "kafka": ("kafka",)}


def open_source(spark: SparkSession, config: Config) -> DataFrame:
    return SOURCES[config.source.kind](spark, config)


def jar_groups(config: Config) -> tuple[str, ...]:
    """The jar groups a SparkSession reading this config's source needs."""
    return ("delta", *SOURCE_JARS[config.source.kind])


def describe_source(config: Config) -> str:
    """Where the stream reads from, for logs (no client settings: they may hold secrets)."""
    if config.source.kind == "kafka":
        return f"Kafka topic {config.source.kafka.topic} at {reader_options(config)['kafka.bootstrap.servers']}"
    return f"landing {config.landing_path}"
