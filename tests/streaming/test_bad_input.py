"""The bad-input catalogue through the running stream: nothing crashes it, nothing is lost, everything is counted.

Two runs over a landing folder (the second is a restart): bytes that are not UTF-8, event times far in the
future and past, blank lines, an empty file, a file of blank lines, and event ids repeated within a file and
across the two runs. Every record lands once in `events` or `quarantine` or is counted as a duplicate, and
delta-rs (the dashboard's reader) reads every table back.
"""
import base64
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from deltalake import DeltaTable

from conftest import config_in
from lakehouse.catalog import ensure_tables
from lakehouse.config import ConfigError, parse_config
from streaming.champion import ChampionWatcher
from streaming.job import start_stream
from tests_support import default_toml_dict

T = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
FIELDS = {"device_id": "dev-1", "cpu_pct": 40.0, "mem_pct": 50.0, "temp_c": 45.0, "disk_io_mbps": 10.0,
          "net_in_mbps": 100.0, "net_out_mbps": 50.0, "latency_ms": 20.0}


def event(event_id: str, when: datetime, cpu: float = 40.0) -> bytes:
    return json.dumps({"event_id": event_id, "event_time": when.isoformat(), **FIELDS, "cpu_pct": cpu}).encode()


def land(config, name: str, content: bytes) -> None:
    """Land a file as writers should: under a hidden name, then renamed."""
    landing = Path(config.landing_path)
    landing.mkdir(parents=True, exist_ok=True)
    (landing / f".{name}").write_bytes(content)
    os.replace(landing / f".{name}", landing / name)


def run_stream(spark, config) -> None:
    query = start_stream(spark, config, ChampionWatcher(config), available_now=True)
    query.awaitTermination()
    assert query.exception() is None


def read(config, table):
    return DeltaTable(config.lake_path(table)).to_pandas()


NOT_UTF8 = event("u1", T).replace(b"dev-1", b"dev-\xff\xfe")
FUTURE = event("f1", datetime.now(timezone.utc) + timedelta(days=1))
STALE = event("s1", datetime(1970, 1, 1, tzinfo=timezone.utc))


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    config = config_in(tmp_path_factory.mktemp("bad-input") / "lake")
    ensure_tables(spark, config)
    first = [event(f"e{i}", T + timedelta(seconds=i), cpu=float(i)) for i in range(1, 7)]
    land(config, "a.jsonl", b"\n".join(first[:3] + [event("e1", T, cpu=99.0), NOT_UTF8, b"", FUTURE, STALE]
                                       + first[3:]) + b"\n")
    land(config, "empty.jsonl", b"")
    land(config, "blank.jsonl", b"\n  \n\t\n")
    run_stream(spark, config)
    # A restart, then repeats of ids stored by the first run (within the 2-minute watermark) and one new id.
    land(config, "b.jsonl", b"\n".join([event("e2", T + timedelta(seconds=30), cpu=77.0), event("e7", T),
                                        event("e1", T)]) + b"\n")
    run_stream(spark, config)
    return config


def test_every_record_lands_once_or_is_counted_as_a_duplicate(lake):
    events, quarantine, stats = read(lake, "events"), read(lake, "quarantine"), read(lake, "stream_stats")
    assert sorted(events.event_id) == [f"e{i}" for i in range(1, 8)]
    assert (stats.rows_in == stats.rows_valid + stats.rows_quarantined + stats.rows_duplicate).all()
    assert stats.rows_valid.sum() == len(events) and stats.rows_quarantined.sum() == len(quarantine)
    assert stats.rows_duplicate.sum() == 3
    lines_landed = 11 + 3 + 3  # a.jsonl, blank.jsonl, b.jsonl; the empty file has none
    assert stats.rows_in.sum() == lines_landed


def test_the_first_copy_of_an_id_is_kept(lake):
    events = read(lake, "events").set_index("event_id")
    assert events.loc["e1", "cpu_pct"] == 1.0, "the first line of a.jsonl, not its repeat further down"
    assert events.loc["e2", "cpu_pct"] == 2.0, "the first run's copy, not the restarted run's"


def test_bad_records_are_quarantined_with_their_reason(lake):
    quarantine = read(lake, "quarantine")
    assert sorted(quarantine.reason) == sorted(["invalid_utf8", "future_event_time", "stale_event_time"]
                                               + ["empty_record"] * 4)
    by_reason = quarantine.set_index("reason")
    assert by_reason.loc["future_event_time", "raw"] == FUTURE.decode()
    assert by_reason.loc["stale_event_time", "detail"].startswith("event_time: 1970-01-01T00:00:00.000000Z is ")


def test_bytes_that_are_not_utf8_stay_readable_and_recoverable(lake):
    row = read(lake, "quarantine").set_index("reason").loc["invalid_utf8"]
    assert row.raw == NOT_UTF8.decode("utf-8", errors="replace") and "\ufffd" in row.raw
    assert base64.b64decode(row.detail.rsplit(": ", 1)[1]) == NOT_UTF8


@pytest.mark.parametrize("key, value, message", [
    ("max_event_time_ahead", "soon", "source.max_event_time_ahead: expected a duration like '1 minute'"),
    ("max_event_time_behind", "0 days", "source.max_event_time_behind: expected a duration"),
    ("max_bytes_per_trigger", "lots", "source.max_bytes_per_trigger: expected a size like '256 MB'"),
    ("max_bytes_per_trigger", -5, "source.max_bytes_per_trigger: must be >= 0, got -5"),
])
def test_bad_bounds_give_one_line(key, value, message):
    data = default_toml_dict()
    data["source"][key] = value
    with pytest.raises(ConfigError) as err:
        parse_config(data, environ={})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_deduplicate_must_be_a_bool():
    data = default_toml_dict()
    data["stream"]["deduplicate"] = "yes"
    with pytest.raises(ConfigError, match="stream.deduplicate: expected bool, got 'yes'"):
        parse_config(data, environ={})
