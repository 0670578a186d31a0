"""Event fields named like the pipeline's own columns, through the running stream, from files and from Kafka.

The schema is made of exactly the names that used to collide: the raw record's `value`, Kafka's `key`,
`timestamp`, `topic`, `offset` and `partition`, and the validation verdict's `reason` and `detail`. (Before
the in-flight columns moved to the `_isoguard_` prefix, every micro-batch failed with AMBIGUOUS_REFERENCE.)
The file-source run also checks what a user of such a schema would see of the other bad-input rules that
live next to it: blank ids are quarantined rather than deduplicated, and a huge line is stored as a bounded
prefix plus its length, in a lake whose quarantine table predates the `raw_bytes` column.
"""
import dataclasses
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import types as T

from lakehouse.catalog import quarantine_schema, table_path
from lakehouse.config import KafkaSourceConfig, parse_config
from streaming.champion import ChampionWatcher
from streaming.job import start_stream
from tests_support import default_toml_dict

# Ten minutes ago, off the whole second (an event time at exactly midnight gets its text checked again).
NOW = datetime.now(timezone.utc).replace(microsecond=123000) - timedelta(minutes=10)
FIELDS = [
    {"name": "event_id", "type": "string", "required": True},
    {"name": "key", "type": "string", "required": True},
    {"name": "timestamp", "type": "timestamp", "required": True},
    {"name": "value", "type": "double", "required": True, "min": 0.0, "max": 1000.0},
    {"name": "topic", "type": "string"},
    {"name": "offset", "type": "long"},
    {"name": "partition", "type": "long"},
    {"name": "reason", "type": "string"},
    {"name": "detail", "type": "string"},
]


def names_config(lake: Path, **source):
    data = default_toml_dict()
    data["schema"] = {"event_id": "event_id", "key": "key", "event_time": "timestamp", "fields": FIELDS}
    data["features"] = {"columns": ["value", "offset", "partition"]}
    data["source"].update(source)
    return parse_config(data, environ={}).with_lake(str(lake))


def record(i: int, **changes) -> dict:
    event = {"event_id": f"e{i}", "key": f"sensor-{i % 3}", "timestamp": (NOW + timedelta(seconds=i)).isoformat(),
             "value": 10.0 + i, "topic": f"room-{i}", "offset": 100 + i, "partition": i % 2,
             "reason": "scheduled", "detail": f"reading {i}"}
    return {**event, **changes}


def line(i: int, **changes) -> bytes:
    return json.dumps(record(i, **changes)).encode()


GOOD = [line(i) for i in range(1, 7)]
OUT_OF_RANGE = line(7, value=-1.0)
BLANK_IDS = [line(8, event_id=""), line(9, event_id=" \t")]
HUGE = json.dumps({**record(10), "detail": "é" * 300_000}).encode()   # 600 kB of two-byte characters


def register_champion(spark, config) -> None:
    """A small champion trained on the schema's own features (value, offset, partition)."""
    from models import registry
    from models.forest import IsolationForest

    rows = [(10.0 + i % 50, 100 + i % 40, i % 2) for i in range(400)]
    frame = spark.createDataFrame(rows, "value double, offset long, partition long")
    model = IsolationForest(inputCols=list(config.features), numTrees=10, maxSamples=64).fit(frame)
    registry.set_alias(config, registry.register_model(model, config, {"window": "test"}, {}))


def run(spark, config) -> None:
    champion = ChampionWatcher(config)
    champion.poll()
    query = start_stream(spark, config, champion, available_now=True)
    query.awaitTermination()
    assert query.exception() is None, query.exception()


def read(config, name):
    return DeltaTable(config.lake_path(name)).to_pandas()


def stored_fields(events):
    return {r.event_id: (r.key, r.value, r.topic, r.offset, r.partition, r.reason, r.detail)
            for r in events.itertuples()}


def expected_fields(ids):
    return {f"e{i}": tuple(record(i)[n] for n in ("key", "value", "topic", "offset", "partition", "reason", "detail"))
            for i in ids}


@pytest.fixture(scope="module")
def file_lake(spark, tmp_path_factory):
    config = names_config(tmp_path_factory.mktemp("names-files") / "lake")
    register_champion(spark, config)
    # A lake from before `quarantine.raw_bytes`: the stream adds the column and appends to it.
    old = T.StructType([f for f in quarantine_schema().fields if f.name != "raw_bytes"])
    (spark.createDataFrame([], old).write.format("delta").partitionBy("ingest_date")
     .save(table_path(config, "quarantine")))
    landing = Path(config.landing_path)
    landing.mkdir(parents=True, exist_ok=True)
    content = b"\n".join(GOOD[:3] + [GOOD[0], OUT_OF_RANGE] + BLANK_IDS + [HUGE] + GOOD[3:]) + b"\n"
    (landing / ".a.jsonl").write_bytes(content)
    os.replace(landing / ".a.jsonl", landing / "a.jsonl")
    run(spark, config)
    return config


def test_fields_named_like_internal_columns_flow_through_files_into_events_and_scores(file_lake):
    events, scores, stats = read(file_lake, "events"), read(file_lake, "scores"), read(file_lake, "stream_stats")
    assert stored_fields(events) == expected_fields(range(1, 7)), "each field holds the event's value, not ours"
    assert set(events.source_file.map(lambda p: p.rsplit("/", 1)[1])) == {"a.jsonl"}
    assert sorted(scores.event_id) == [f"e{i}" for i in range(1, 7)]
    assert scores.anomaly_score.between(0, 1).all() and (scores.value == events.set_index("event_id").loc[
        scores.event_id, "value"].to_numpy()).all()
    assert stats.rows_in.sum() == 11 and stats.rows_duplicate.sum() == 1
    assert (stats.rows_in == stats.rows_valid + stats.rows_quarantined + stats.rows_duplicate).all()


def test_blank_ids_are_quarantined_not_deduplicated_and_a_huge_line_is_stored_as_a_prefix(file_lake):
    quarantine = read(file_lake, "quarantine")
    assert sorted(quarantine.reason) == ["missing_required", "missing_required", "out_of_range", "oversized"]
    blank = quarantine.query("reason == 'missing_required'")
    assert blank.detail.str.startswith("event_id: required field is blank").all()
    assert sorted(blank.raw) == sorted(b.decode() for b in BLANK_IDS), "short records are stored whole"
    assert (quarantine.raw_bytes == quarantine.raw.str.encode("utf-8").str.len()).sum() == 3
    huge = quarantine.query("reason == 'oversized'").iloc[0]
    assert huge.raw_bytes == len(HUGE)
    stored = huge.raw.encode()
    assert HUGE.startswith(stored) and 4095 <= len(stored) <= 4096, "the first max_record_bytes bytes, whole characters"


def test_fields_named_like_kafka_columns_are_read_from_the_message_value(spark, kafka_broker, tmp_path):
    topic = kafka_broker.create_topic("reserved-names", partitions=1)
    kafka_broker.produce(topic, GOOD[:3] + [OUT_OF_RANGE])   # every message's Kafka key is b"raw"
    config = names_config(tmp_path / "lake", kind="kafka")
    config = dataclasses.replace(config, source=dataclasses.replace(
        config.source, kafka=KafkaSourceConfig(bootstrap_servers=kafka_broker.bootstrap, topic=topic)))
    run(spark, config)
    events, quarantine = read(config, "events"), read(config, "quarantine")
    assert stored_fields(events) == expected_fields(range(1, 4)), "the JSON's key/topic/offset, not the message's"
    assert sorted(events.source_file) == [f"{topic}/0/{n}" for n in range(3)]
    assert list(quarantine.reason) == ["out_of_range"] and list(quarantine.source_file) == [f"{topic}/0/3"]
