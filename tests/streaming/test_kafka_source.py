"""The Kafka source and the generator's Kafka writer against a real broker; config and client settings."""
import dataclasses
import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from pyspark.errors import StreamingQueryException
from pyspark.sql import functions as F

from conftest import ROOT, config_in
from features.validation import validate
from kafka_broker import SASL_USER, plain_jaas
from lakehouse.columns import RAW, REASON, SOURCE
from lakehouse.config import ConfigError, KafkaSourceConfig, parse_config
from simulation.fleet import FleetSimulator
from simulation.generate import read_truth
from streaming.kafka_source import client_settings, kafka_source, reader_options
from simulation.kafka_writer import KafkaWriter
from streaming.sources import describe_source, jar_groups
from tests_support import default_toml_dict

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=timezone.utc).timestamp()
NOT_UTF8 = b'{"event_id": "latin-1", "device_id": "caf\xe9"}'


def kafka_config(lake, broker_address: str, topic: str, **kafka):
    config = config_in(lake)
    settings = KafkaSourceConfig(bootstrap_servers=broker_address, topic=topic, **kafka)
    return dataclasses.replace(config, source=dataclasses.replace(config.source, kind="kafka", kafka=settings))


def test_message_bytes_that_are_not_utf8_are_kept_and_quarantined_as_such(spark, kafka_broker, tmp_path):
    topic = kafka_broker.create_topic("not-utf8", partitions=1)
    kafka_broker.produce(topic, [NOT_UTF8])
    config = kafka_config(tmp_path / "lake", kafka_broker.bootstrap, topic)
    checked = validate(kafka_source(spark, config), config).select(
        F.octet_length(RAW).alias("bytes"), F.col(REASON).alias("reason"), F.col(SOURCE).alias("source_file"))
    query = (checked.writeStream.format("memory").queryName("not_utf8").trigger(availableNow=True)
             .option("checkpointLocation", str(tmp_path / "checkpoint")).start())
    query.awaitTermination(120)
    row = spark.table("not_utf8").first()
    assert row.bytes == len(NOT_UTF8), "the message's bytes, not a lossy decoding"
    assert row.reason == "invalid_utf8"
    assert row.source_file == f"{topic}/0/0"


def drain_with_sasl(spark, kafka_broker, tmp_path, monkeypatch, password: str, name: str):
    topic = kafka_broker.create_topic(f"secured-{name}", partitions=1)
    kafka_broker.produce(topic, [b'{"n": 1}', b'{"n": 2}'])
    monkeypatch.setenv("ISOGUARD_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("ISOGUARD_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("ISOGUARD_KAFKA_SASL_JAAS_CONFIG", plain_jaas(SASL_USER, password))
    config = kafka_config(tmp_path / "lake", kafka_broker.sasl_bootstrap, topic)
    query = (kafka_source(spark, config).writeStream.format("memory").queryName(f"secured_{name}")
             .trigger(availableNow=True).option("checkpointLocation", str(tmp_path / "checkpoint")).start())
    try:
        query.awaitTermination(120)
    except StreamingQueryException:
        pass  # the caller inspects query.exception()
    return query


def test_sasl_settings_from_the_environment_reach_the_broker(spark, kafka_broker, tmp_path, monkeypatch):
    query = drain_with_sasl(spark, kafka_broker, tmp_path, monkeypatch, kafka_broker.sasl_password, "good")
    assert query.exception() is None, query.exception()
    assert sorted(r[RAW] for r in spark.table("secured_good").collect()) == ['{"n": 1}', '{"n": 2}']


def test_a_wrong_sasl_password_fails_the_stream_without_revealing_it(spark, kafka_broker, tmp_path, monkeypatch):
    wrong = "not-the-password-" + kafka_broker.sasl_password[:4]
    query = drain_with_sasl(spark, kafka_broker, tmp_path, monkeypatch, wrong, "bad")
    assert query.exception() is not None
    assert "Authentication failed" in str(query.exception())
    assert wrong not in str(query.exception())


def test_environment_variables_become_kafka_client_options():
    environ = {"ISOGUARD_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "ISOGUARD_KAFKA_SSL_TRUSTSTORE_LOCATION": "/etc/ts.jks",
               "ISOGUARD_LAKE": "/lake", "KAFKA_SASL_JAAS_CONFIG": "not ours"}
    assert client_settings(environ) == {"kafka.security.protocol": "SASL_SSL",
                                        "kafka.ssl.truststore.location": "/etc/ts.jks"}


def test_reader_options_follow_the_config_and_the_environment_overrides_bootstrap(tmp_path):
    config = kafka_config(tmp_path, "a:9092,b:9092", "events", starting_offsets="latest", max_offsets_per_trigger=500,
                          fail_on_data_loss=False)
    options = reader_options(config, {"ISOGUARD_KAFKA_BOOTSTRAP_SERVERS": "c:9093"})
    assert options == {"kafka.bootstrap.servers": "c:9093", "subscribe": "events", "startingOffsets": "latest",
                       "failOnDataLoss": "false", "maxOffsetsPerTrigger": "500"}
    assert reader_options(kafka_config(tmp_path, "a:9092", "events"), {})["maxOffsetsPerTrigger"] == "1000000", \
        "bounded by default, like the file source"
    assert "maxOffsetsPerTrigger" not in reader_options(
        kafka_config(tmp_path, "a:9092", "events", max_offsets_per_trigger=0), {})


@pytest.mark.parametrize("variable, value, message", [
    ("ISOGUARD_KAFKA_AUTO_OFFSET_RESET", "earliest", "ISOGUARD_KAFKA_AUTO_OFFSET_RESET: Spark manages auto.offset.reset"),
    ("ISOGUARD_KAFKA_ENABLE_AUTO_COMMIT", "true", "ISOGUARD_KAFKA_ENABLE_AUTO_COMMIT: Spark manages"),
    ("ISOGUARD_KAFKA_SASL_JAAS_CONFIG", " ", "ISOGUARD_KAFKA_SASL_JAAS_CONFIG: is set but empty"),
    ("ISOGUARD_KAFKA_", "x", "ISOGUARD_KAFKA_: name a Kafka client option"),
])
def test_unusable_client_settings_are_one_line_errors_naming_the_variable(variable, value, message):
    with pytest.raises(ConfigError) as error:
        client_settings({variable: value})
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_the_job_names_its_kafka_source_and_loads_the_connector_jars(tmp_path):
    config = kafka_config(tmp_path, "broker:9092", "events")
    assert describe_source(config) == "Kafka topic events at broker:9092"
    assert jar_groups(config) == ("delta", "kafka")
    assert jar_groups(config_in(tmp_path)) == ("delta",)


def test_message_values_are_the_json_lines_the_file_source_would_read(kafka_broker, tmp_path):
    from kafka import KafkaConsumer

    topic = kafka_broker.create_topic("writer-format", partitions=1)
    events, truth = FleetSimulator(devices=2, seed=1).generate(T0, T0 + 10, 5, 0)
    with KafkaWriter(kafka_broker.bootstrap, topic, tmp_path / "truth", key="device_id") as writer:
        writer.write("chunk", events, truth)
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_broker.bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=10_000)
    messages = [m for _, m in zip(range(5), consumer)]
    consumer.close()
    assert [json.loads(m.value)["event_id"] for m in messages] == list(events.event_id)
    assert [m.key.decode() for m in messages] == list(events.device_id)
    assert list(read_truth(tmp_path / "truth").event_id) == list(events.event_id)


def kafka_toml(**kafka) -> dict:
    data = default_toml_dict()
    data["source"]["kind"] = "kafka"
    data["source"]["kafka"] = kafka
    return data


@pytest.mark.parametrize("kafka, message", [
    ({"topic": "events"}, "source.kafka.bootstrap_servers: missing required key"),
    ({"bootstrap_servers": "b:9092"}, "source.kafka.topic: missing required key"),
    ({"bootstrap_servers": " ", "topic": "events"}, "source.kafka.bootstrap_servers: must not be empty"),
    ({"bootstrap_servers": "b:9092", "topic": "events", "starting_offsets": "newest"},
     "source.kafka.starting_offsets: must be"),
    ({"bootstrap_servers": "b:9092", "topic": "events", "max_offsets_per_trigger": -1},
     "source.kafka.max_offsets_per_trigger: must be >= 0"),
    ({"bootstrap_servers": "b:9092", "topic": "events", "fail_on_data_loss": "no"},
     "source.kafka.fail_on_data_loss: expected bool"),
])
def test_bad_kafka_config_is_a_one_line_error_naming_the_key(kafka, message):
    with pytest.raises(ConfigError) as error:
        parse_config(kafka_toml(**kafka), environ={})
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_kafka_config_accepts_per_partition_starting_offsets():
    offsets = '{"events": {"0": 42, "1": -2}}'
    config = parse_config(kafka_toml(bootstrap_servers="b:9092", topic="events", starting_offsets=offsets), environ={})
    assert config.source.kind == "kafka" and config.source.kafka.starting_offsets == offsets


@pytest.mark.parametrize("arguments, message", [
    (["--topic", "events"], "error: --topic needs --kafka BOOTSTRAP"),
    (["--kafka", "{bootstrap}", "--topic", "no-such-topic"], "error: --topic: no topic 'no-such-topic' at {bootstrap}: create it first"),
])
def test_bad_generator_kafka_arguments_give_one_line(kafka_broker, arguments, message):
    arguments = [a.format(bootstrap=kafka_broker.bootstrap) for a in arguments]
    result = subprocess.run([sys.executable, "-m", "simulation.generate", "--duration", "1", *arguments], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == message.format(bootstrap=kafka_broker.bootstrap)
