"""The `[source]` and `[source.kafka]` sections: where events come from and what a valid record is.

Why apart: the source's settings bound what one micro-batch reads (files,
bytes, offsets) and what validation quarantines (record size, unknown fields,
event-time bounds); Kafka's client security never comes from here but from
ISOGUARD_KAFKA_* variables (streaming/kafka_source.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from lakehouse.config.reader import ConfigError, Section

SOURCE_KINDS = ("files", "kafka")
UNKNOWN_FIELD_POLICIES = ("reject", "ignore")
EVENT_TIME_BOUNDS = ("wall_clock", "data")


@dataclass(frozen=True)
class KafkaSourceConfig:
    """[source.kafka]; security settings come from ISOGUARD_KAFKA_* variables (streaming/kafka_source.py)."""
    bootstrap_servers: str = ""
    topic: str = ""
    starting_offsets: str = "earliest"   # "earliest", "latest" or Spark's per-partition JSON
    max_offsets_per_trigger: int = 1_000_000  # bounded like the file source (~250 MB of events); 0 = no cap
    fail_on_data_loss: bool = True


@dataclass(frozen=True)
class SourceConfig:
    kind: str = "files"
    landing: str = "landing"
    max_files_per_trigger: int = 0                # > 0: at most this many files per micro-batch (wins over bytes)
    max_bytes_per_trigger: int = 256 * 10**6      # otherwise at most about this many bytes of files; 0 = no cap
    max_record_bytes: int = 4096
    unknown_fields: str = "reject"
    # Event times further than this ahead of / behind the ingestion time are quarantined.
    max_event_time_ahead_seconds: int = 300
    max_event_time_behind_seconds: int = 3650 * 86400
    # "wall_clock": both bounds against the ingestion time; "data" (backfills of history): the stale bound
    # against the newest event time the stream has stored instead (the future bound stays on the wall clock).
    event_time_bounds: str = "wall_clock"
    kafka: KafkaSourceConfig = field(default_factory=KafkaSourceConfig)


def parse_source(root: Section) -> SourceConfig:
    src = root.section("source", SourceConfig)
    kind = src.choice("kind", SOURCE_KINDS)
    return SourceConfig(
        kind=kind,
        landing=src.get("landing", str),
        max_files_per_trigger=src.positive("max_files_per_trigger", int, allow_zero=True),
        max_bytes_per_trigger=src.size("max_bytes_per_trigger"),
        max_record_bytes=src.positive("max_record_bytes", int),
        unknown_fields=src.choice("unknown_fields", UNKNOWN_FIELD_POLICIES),
        max_event_time_ahead_seconds=src.duration("max_event_time_ahead", "max_event_time_ahead_seconds"),
        max_event_time_behind_seconds=src.duration("max_event_time_behind", "max_event_time_behind_seconds"),
        event_time_bounds=src.choice("event_time_bounds", EVENT_TIME_BOUNDS),
        kafka=_parse_kafka(src, kind),
    )


def _parse_kafka(src: Section, kind: str) -> KafkaSourceConfig:
    """[source.kafka], read (and checked) also when the source is files, so its keys are known either way."""
    k = src.section("kafka", KafkaSourceConfig)
    needed = kind == "kafka"
    kafka = KafkaSourceConfig(
        bootstrap_servers=k.get("bootstrap_servers", str, required=needed).strip(),
        topic=k.get("topic", str, required=needed).strip(),
        starting_offsets=k.get("starting_offsets", str).strip(),
        max_offsets_per_trigger=k.positive("max_offsets_per_trigger", int, allow_zero=True),
        fail_on_data_loss=k.get("fail_on_data_loss", bool),
    )
    if needed:
        for name in ("bootstrap_servers", "topic"):
            if not getattr(kafka, name):
                raise ConfigError(f"{k.key(name)}: must not be empty")
    if kafka.starting_offsets not in ("earliest", "latest"):
        try:
            per_partition = json.loads(kafka.starting_offsets)
        except ValueError:
            per_partition = None
        if not isinstance(per_partition, dict):
            raise ConfigError(f"{k.key('starting_offsets')}: must be \"earliest\", \"latest\" or a JSON object "
                              f"of offsets per topic and partition, got {kafka.starting_offsets!r}")
    return kafka
