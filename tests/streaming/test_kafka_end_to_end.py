"""Kafka end to end, with real process kills: generator --kafka -> topic -> the stream job over SASL -> Delta.

The file source's guarantees (test_end_to_end.py, test_crash_recovery.py) for a topic:
after a SIGKILL in the middle of a micro-batch and a restart from the checkpoint, every produced event
is in `events` exactly once and scored exactly once, every bad message is in
`quarantine` exactly once, and no micro-batch exceeds maxOffsetsPerTrigger.
"""
import math
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from deltalake import DeltaTable

from conftest import DEFAULT_CONFIG, MALFORMED_LINES, ROOT, config_in
from kafka_broker import SASL_USER, plain_jaas
from simulation.generate import read_truth
from tests_support import (assert_each_event_once, commits, finish_job, kill_when, register_test_champion,
                           start_job)

START = "2026-11-21T08:00:00Z"
T0 = datetime.fromisoformat(START.replace("Z", "+00:00")).timestamp()
MAX_OFFSETS = 400
BAD_MESSAGES = [line.encode() for line in MALFORMED_LINES] + [None]  # None: a tombstone


def generate_to_kafka(broker, topic: str, truth: Path, seed: int, start: str) -> None:
    """Five simulated minutes at 2 events/s from the generator's own command line."""
    subprocess.run([sys.executable, "-m", "simulation.generate", "--kafka", broker.bootstrap, "--topic", topic,
                    "--rate", "2", "--duration", "300", "--file-seconds", "60", "--start", start,
                    "--devices", "10", "--seed", str(seed), "--truth", str(truth)],
                   cwd=ROOT, check=True, capture_output=True, text=True)


def kafka_toml(path: Path, bootstrap: str, topic: str) -> Path:
    text = DEFAULT_CONFIG.read_text()
    for old, new in (('kind = "files"', 'kind = "kafka"'),
                     ('bootstrap_servers = "127.0.0.1:9092"', f'bootstrap_servers = "{bootstrap}"'),
                     ('topic = "isoguard-events"', f'topic = "{topic}"'),
                     ("max_offsets_per_trigger = 1000000", f"max_offsets_per_trigger = {MAX_OFFSETS}")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def kafka_stream(spark, kafka_broker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kafka-stream")
    lake = tmp / "lake"
    register_test_champion(spark, config_in(lake), before=T0)
    topic = kafka_broker.create_topic("stream-events", partitions=2)
    generate_to_kafka(kafka_broker, topic, lake / "truth", seed=9, start=START)
    kafka_broker.produce(topic, BAD_MESSAGES)
    generate_to_kafka(kafka_broker, topic, lake / "truth", seed=10, start="2026-11-21T08:05:00Z")
    toml = kafka_toml(tmp / "kafka.toml", kafka_broker.sasl_bootstrap, topic)
    sasl = {"ISOGUARD_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "ISOGUARD_KAFKA_SASL_MECHANISM": "PLAIN",
            "ISOGUARD_KAFKA_SASL_JAAS_CONFIG": plain_jaas(SASL_USER, kafka_broker.sasl_password)}
    logs = []
    # Killed in the middle of the second micro-batch: its events committed, its scores and stats maybe not.
    proc = start_job(toml, lake, "--available-now", env=sasl)
    logs.append(kill_when(proc, lambda: commits(lake / "events") > 2))  # creation + two appends
    # Restarted from the checkpoint, to the end.
    proc = start_job(toml, lake, "--available-now", env=sasl)
    exit_code, final_log = finish_job(proc)
    logs.append(final_log)
    return {"lake": lake, "topic": topic, "exit_code": exit_code, "logs": logs,
            "generated": set(read_truth(lake / "truth").event_id), "password": kafka_broker.sasl_password}


def table(run, name):
    return DeltaTable(str(run["lake"] / name)).to_pandas()


def test_the_restarted_job_drains_the_topic_and_exits_cleanly(kafka_stream):
    assert kafka_stream["exit_code"] == 0, kafka_stream["logs"][-1][-3000:]


def test_every_produced_event_is_stored_and_scored_exactly_once(kafka_stream):
    assert len(kafka_stream["generated"]) == 1200
    assert_each_event_once(kafka_stream["lake"], kafka_stream["generated"])


def test_every_bad_message_is_quarantined_exactly_once_with_its_position(kafka_stream):
    quarantine = table(kafka_stream, "quarantine")
    assert sorted(quarantine.raw) == sorted(MALFORMED_LINES + [""])
    reasons = dict(zip(quarantine.raw, quarantine.reason))
    assert reasons[MALFORMED_LINES[1]] == "malformed_json"
    assert reasons[MALFORMED_LINES[2]] == "wrong_type"
    assert reasons[""] == "empty_record", "a tombstone (null value) is an empty record, not a lost one"
    positions = list(quarantine.source_file) + list(table(kafka_stream, "events").source_file)
    assert all(re.fullmatch(rf"{kafka_stream['topic']}/[01]/\d+", p) for p in positions)
    assert len(set(positions)) == len(positions) == 1200 + len(BAD_MESSAGES)


def test_max_offsets_per_trigger_bounds_every_micro_batch(kafka_stream):
    stats = table(kafka_stream, "stream_stats")
    total = 1200 + len(BAD_MESSAGES)
    assert stats.rows_in.sum() == total
    assert stats.rows_in.max() <= MAX_OFFSETS
    assert len(stats) >= math.ceil(total / MAX_OFFSETS)


def test_the_sasl_password_never_reaches_the_job_log(kafka_stream):
    assert f"Kafka topic {kafka_stream['topic']}" in kafka_stream["logs"][-1], "the log names the source"
    leaks = [line.replace(kafka_stream["password"], "<PASSWORD>")[:300]
             for log in kafka_stream["logs"] for line in log.splitlines() if kafka_stream["password"] in line]
    assert not leaks, leaks
