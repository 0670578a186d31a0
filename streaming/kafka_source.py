"""The Kafka source: one event per message value, read with Spark's Kafka connector.

Settings that may carry secrets (SASL, SSL) never live in the config file. Every
environment variable ISOGUARD_KAFKA_<OPTION> becomes the Kafka client option
<option>, lower case with '_' read as '.' (Kafka's option names have no '_'):

    ISOGUARD_KAFKA_SECURITY_PROTOCOL=SASL_SSL
    ISOGUARD_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
    ISOGUARD_KAFKA_SASL_JAAS_CONFIG='org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="p";'
    ISOGUARD_KAFKA_SSL_TRUSTSTORE_LOCATION=/etc/kafka/truststore.jks

ISOGUARD_KAFKA_BOOTSTRAP_SERVERS, if set, overrides source.kafka.bootstrap_servers.
Values are passed to Spark only, never logged or kept in the Config.
"""
from __future__ import annotations

import os
from typing import Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.columns import ARRIVED, RAW, SOURCE
from lakehouse.config import Config, ConfigError

ENV_PREFIX = "ISOGUARD_KAFKA_"

# Kafka client options Spark's Kafka source sets itself and refuses from users.
SPARK_MANAGED = {
    "auto.offset.reset": "use source.kafka.starting_offsets",
    "enable.auto.commit": "Spark tracks offsets in the checkpoint",
    "key.deserializer": "Spark reads keys and values as bytes",
    "value.deserializer": "Spark reads keys and values as bytes",
    "interceptor.classes": "Spark's Kafka source does not support interceptors",
}


def client_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`kafka.<option>` reader options from the ISOGUARD_KAFKA_* environment variables."""
    environ = os.environ if environ is None else environ
    settings = {}
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX):
            continue
        option = variable[len(ENV_PREFIX):].lower().replace("_", ".")
        if not option:
            raise ConfigError(f"{variable}: name a Kafka client option after the prefix, e.g. {ENV_PREFIX}SECURITY_PROTOCOL")
        if option in SPARK_MANAGED:
            raise ConfigError(f"{variable}: Spark manages {option} itself ({SPARK_MANAGED[option]})")
        if not environ[variable].strip():
            raise ConfigError(f"{variable}: is set but empty")
        settings[f"kafka.{option}"] = environ[variable]
    return settings


def reader_options(config: Config, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every option of Spark's Kafka reader for this config, secrets from the environment included."""
    kafka = config.source.kafka
    options = {
        "kafka.bootstrap.servers": kafka.bootstrap_servers,
        "subscribe": kafka.topic,
        "startingOffsets": kafka.starting_offsets,
        "failOnDataLoss": str(kafka.fail_on_data_loss).lower(),
    }
    if kafka.max_offsets_per_trigger:
        options["maxOffsetsPerTrigger"] = str(kafka.max_offsets_per_trigger)
    options.update(client_settings(environ))
    return options


def as_records(messages: DataFrame) -> DataFrame:
    """Kafka rows -> the source columns every source returns (lakehouse/columns.py).

    The raw record keeps the message bytes as they are (a message that is not UTF-8
    stays detectable as such; a null value, a tombstone, becomes an empty record);
    the source is the message's position, topic/partition/offset; the arrival time
    is the message timestamp. Kafka's own columns (`key`, `value`, `topic`, ...) end
    here: event fields of the same names do not meet them.
    """
    return messages.select(
        F.coalesce(F.col("value").cast("string"), F.lit("")).alias(RAW),
        F.format_string("%s/%d/%d", "topic", "partition", "offset").alias(SOURCE),
        F.col("timestamp").alias(ARRIVED),
    )


def kafka_source(spark: SparkSession, config: Config) -> DataFrame:
    """Every message of the configured topic(s), from the checkpoint's offsets or `starting_offsets`."""
    return as_records(spark.readStream.format("kafka").options(**reader_options(config)).load())
