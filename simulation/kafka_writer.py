"""The generator's Kafka output: the same events a LandingWriter lands, produced to a topic.

    python -m simulation.generate --kafka 127.0.0.1:9092 --topic isoguard-events --rate 1000

One message per event: the JSON record as the value, the entity key as the message
key (so each device's events stay in order within one partition). The topic must
exist; the generator does not create topics on a cluster.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError

from lakehouse.cli import UsageError
from simulation.fleet import to_json_lines

CONNECT_TIMEOUT_MS = 30_000
logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python logs every connection at INFO


class KafkaWriter:
    """Produces events to `topic`, one JSON message each; `write` returns once every message is acknowledged."""

    def __init__(self, bootstrap_servers: str, topic: str, truth: str | Path | None = None, key: str | None = None):
        self.topic, self.key = topic, key
        self.truth = Path(truth) if truth else None
        if self.truth:
            self.truth.mkdir(parents=True, exist_ok=True)
        servers = bootstrap_servers.split(",")
        try:
            admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=CONNECT_TIMEOUT_MS)
            try:
                topics = admin.list_topics()
            finally:
                admin.close()
            self.producer = KafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=20,
                                          max_block_ms=CONNECT_TIMEOUT_MS)
        except KafkaError as exc:
            raise UsageError(f"--kafka: cannot reach a Kafka broker at {bootstrap_servers} ({exc})") from None
        if topic not in topics:
            self.producer.close(timeout=5)
            raise UsageError(f"--topic: no topic {topic!r} at {bootstrap_servers}: create it first")

    def write(self, name: str, events: pd.DataFrame, truth: pd.DataFrame | None = None) -> int:
        """Produce one chunk of events (`name` only labels it, as a file name does for LandingWriter)."""
        if self.truth is not None and truth is not None:
            truth.to_csv(self.truth / f"{name}.csv", index=False)  # truth first: the labels never lag the events
        values = [line.encode() for line in to_json_lines(events).split("\n") if line]
        keyed = self.key is not None and self.key in events.columns  # a replayed CSV may lack the key column
        keys = events[self.key].astype(str).str.encode("utf-8") if keyed else [None] * len(values)
        sent = [self.producer.send(self.topic, value=value, key=key) for value, key in zip(values, keys)]
        self.producer.flush()
        for future in sent:
            future.get(timeout=CONNECT_TIMEOUT_MS / 1000)  # raises if the broker refused a message
        return sum(len(v) for v in values)

    def close(self) -> None:
        self.producer.close(timeout=10)

    def __enter__(self) -> "KafkaWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
