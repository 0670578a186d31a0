"""The `[source]` and `[source.kafka]` sections: where events come from and what a valid record is.

Why apart: the source's settings bound what one micro-batch reads (files,
bytes, offsets) and what validation quarantines (record size, unknown fields,
event-time bounds); Kafka's client security never comes from here but from
ISOGUARD_KAFKA_* variables (streaming/kafka_source.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from lakehouse.config.reader import ConfigError, Section, setting

SOURCE_KINDS = ("files", "kafka")
UNKNOWN_FIELD_POLICIES = ("reject", "ignore")
EVENT_TIME_BOUNDS = ("wall_clock", "data")


def _starting_offsets(k: Section, key: str, value: str) -> str:
    value = value.strip()
    if value not in ("earliest", "latest"):
        try:
            per_partition = json.loads(value)
        except ValueError:
            per_partition = None
        if not isinstance(per_partition, dict):
            raise ConfigError(f"{k.key(key)}: must be \"earliest\", \"latest\" or a JSON object "
                              f"of offsets per topic and partition, got {value!r}")
    return value


@dataclass(frozen=True)
class KafkaSourceConfig:
    """[source.kafka]; security settings come from ISOGUARD_KAFKA_* variables (streaming/kafka_source.py)."""
    bootstrap_servers: str = ""           # required (not empty) when source.kind = "kafka": read by _parse_kafka
    topic: str = ""
    # "earliest", "latest" or Spark's per-partition JSON.
    starting_offsets: str = setting("earliest", check=_starting_offsets)
    # Bounded like the file source (~250 MB of events); 0 = no cap.
    max_offsets_per_trigger: int = setting(1_000_000, "positive", allow_zero=True)
    fail_on_data_loss: bool = setting(True)


@dataclass(frozen=True)
class SourceConfig:
    kind: str = setting("files", "choice", choices=SOURCE_KINDS)
    landing: str = setting("landing")
    # > 0: at most this many files per micro-batch (wins over bytes).
    max_files_per_trigger: int = setting(0, "positive", allow_zero=True)
    # Otherwise at most about this many bytes of files; 0 = no cap.
    max_bytes_per_trigger: int = setting(256 * 10**6, "size")
    max_record_bytes: int = setting(4096, "positive")
    unknown_fields: str = setting("reject", "choice", choices=UNKNOWN_FIELD_POLICIES)
    # Event times further than this ahead of / behind the ingestion time are quarantined.
    max_event_time_ahead_seconds: int = setting(300, "duration", key="max_event_time_ahead")
    max_event_time_behind_seconds: int = setting(3650 * 86400, "duration", key="max_event_time_behind")
    # "wall_clock": both bounds against the ingestion time; "data" (backfills of history): the stale bound
    # against the newest event time the stream has stored instead (the future bound stays on the wall clock).
    event_time_bounds: str = setting("wall_clock", "choice", choices=EVENT_TIME_BOUNDS)
    kafka: KafkaSourceConfig = field(default_factory=KafkaSourceConfig)


def parse_source(root: Section) -> SourceConfig:
    src = root.section("source", SourceConfig)
    return src.build(SourceConfig, kafka=lambda values: _parse_kafka(src, values["kind"]))


def _parse_kafka(src: Section, kind: str) -> KafkaSourceConfig:
    """[source.kafka], read (and checked) also when the source is files, so its keys are known either way;
    the broker and the topic are required (and not empty) when the source is Kafka."""
    k = src.section("kafka", KafkaSourceConfig)
    needed = kind == "kafka"

    def named(name: str) -> str:
        value = k.get(name, str, required=needed).strip()
        if needed and not value:
            raise ConfigError(f"{k.key(name)}: must not be empty")
        return value

    return k.build(KafkaSourceConfig, bootstrap_servers=lambda _: named("bootstrap_servers"),
                   topic=lambda _: named("topic"))
