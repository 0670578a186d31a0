"""Inputs an outside probe got past validation: blank ids, misread event times, duplicate keys, deep nesting.

Each used to be stored as a valid event (or called malformed when it was not); now each is quarantined with a
reason and a detail that says what was expected. Also: the raw text quarantine stores is bounded.
"""
import json
from datetime import datetime, timezone

import pytest
from pyspark.sql import functions as F

from features.validation import JSON_MAX_DEPTH, stored_raw, validate
from lakehouse.columns import DETAIL, RAW, REASON, SOURCE

INGESTED = datetime(2026, 11, 21, 10, 1, tzinfo=timezone.utc)
GOOD = {"event_id": "e1", "device_id": "dev-1", "event_time": "2026-11-21T10:00:00.000Z", "cpu_pct": 40.0,
        "mem_pct": 50.0, "temp_c": 45.0, "disk_io_mbps": 10.0, "net_in_mbps": 100.0, "net_out_mbps": 50.0,
        "latency_ms": 20.0}


def line(**changes) -> str:
    return json.dumps({**GOOD, **changes})


def nested(depth: int) -> str:
    """An event whose unknown field `deep` holds arrays nested so that the whole document is `depth` levels deep."""
    return line()[:-1] + ', "deep": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


EPOCH_MS = int(datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc).timestamp() * 1000)
MIDNIGHT = int(datetime(2026, 11, 21, tzinfo=timezone.utc).timestamp())
BLANK = "event_id: required field is blank (empty, or only whitespace or control characters): "
TIME_FORMS = ("event_time: expected an ISO-8601 date-time with a time of day (zone optional, UTC if none) or "
              "epoch seconds as a JSON number, got ")
CASES = [
    # (name, record, reason, detail or its start)
    ("empty id", line(event_id=""), "missing_required", BLANK + '[""]'),
    ("whitespace id", line(event_id=" \t "), "missing_required", BLANK + '[" \\t "]'),
    ("NUL id", line(event_id="\u0000"), "missing_required", BLANK + '["\\u0000"]'),
    ("control and zero-width id", line(event_id="\u0001\u200b\u00a0\u3000"), "missing_required", BLANK),
    ("empty key", line(device_id=""), "missing_required", "device_id: required field is blank"),
    ("id with inner space", line(event_id="e 1"), None, None),
    ("date only", line(event_time="2026-11-21"), "bad_event_time", TIME_FORMS + "2026-11-21, a date without a time of day"),
    ("year and month", line(event_time="2026-11"), "bad_event_time", TIME_FORMS + "2026-11, a date"),
    ("epoch milliseconds", line(event_time=EPOCH_MS), "bad_event_time",
     TIME_FORMS + f"{EPOCH_MS} as epoch seconds, which is beyond year 9999 (epoch milliseconds?)"),
    ("midnight with a time", line(event_time="2026-11-21T00:00:00Z"), None, None),
    ("midnight with a space", line(event_time="2026-11-21 00:00"), None, None),
    ("midnight in epoch seconds", line(event_time=MIDNIGHT), None, None),
    ("hour only", line(event_time="2026-11-21T09"), None, None),
    ("duplicate key, last in range", '{"cpu_pct": 500, ' + line()[1:], "duplicate_field",
     "fields given more than once: cpu_pct"),
    ("duplicate keys, same values", line()[:-1] + ', "device_id": "dev-1", "event_id": "e1"}', "duplicate_field",
     "fields given more than once: event_id, device_id"),
    ("nested 1900 levels", nested(1900), "too_deep",
     f"JSON nested deeper than {JSON_MAX_DEPTH} levels (the limit of Spark's JSON parser)"),
    ("nested at the limit", nested(JSON_MAX_DEPTH), "unknown_field", "unknown fields: deep"),
    ("brackets in a string of broken JSON", '{"event_id": "' + "[" * 1500 + '", "cpu_pct": ', "malformed_json",
     "not a JSON object"),
]


@pytest.fixture(scope="module")
def validated(spark, default_config):
    raw = spark.createDataFrame([(c[1], c[0]) for c in CASES], f"{RAW} string, {SOURCE} string")
    rows = validate(raw, default_config, F.lit(INGESTED)).select(SOURCE, REASON, DETAIL).collect()
    return {row[SOURCE]: (row[REASON], row[DETAIL]) for row in rows}


@pytest.mark.parametrize("name, text, reason, detail", CASES, ids=[c[0] for c in CASES])
def test_each_hole_is_quarantined_with_a_truthful_reason(validated, name, text, reason, detail):
    got_reason, got_detail = validated[name]
    assert got_reason == reason, got_detail
    if detail is not None:
        assert got_detail.startswith(detail), got_detail


def test_a_duplicate_key_can_no_longer_bypass_the_range_check(spark, default_config):
    # The probe's record: 500 first, an in-range 5 last; Spark's parser keeps the last value.
    probe = '{"cpu_pct": 500, ' + line()[1:-1] + ', "cpu_pct": 5}'
    raw = spark.createDataFrame([(probe, "f")], f"{RAW} string, {SOURCE} string")
    row = validate(raw, default_config, F.lit(INGESTED)).select(REASON, "cpu_pct").first()
    assert row[REASON] == "duplicate_field"


def test_quarantine_keeps_a_bounded_prefix_of_a_record(spark):
    records = ["short", "x" * 5000, "é" * 3000, "ab" + "€" * 2000, None]
    raw = spark.createDataFrame([(r,) for r in records], "r string")
    stored = [row.s for row in raw.select(stored_raw(F.col("r"), 4096).alias("s")).collect()]
    assert stored[0] == "short" and stored[1] == "x" * 4096
    assert stored[2] == "é" * 2048, "4096 bytes of two-byte characters"
    assert stored[3] == "ab" + "€" * 1364, "4094 bytes: the cut three-byte character is left out, not mangled"
    assert stored[4] is None
