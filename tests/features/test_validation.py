import base64
import json
from datetime import datetime, timezone

import pytest
from pyspark.sql import functions as F

from features.validation import readable_raw, split_valid, validate
from lakehouse.columns import DETAIL, RAW, REASON, SOURCE

INGESTED = datetime(2026, 11, 21, 10, 1, tzinfo=timezone.utc)

GOOD = {"event_id": "e1", "device_id": "dev-1", "event_time": "2026-11-21T10:00:00.000Z", "cpu_pct": 40.0,
        "mem_pct": 50.0, "temp_c": 45.0, "disk_io_mbps": 10.0, "net_in_mbps": 100.0, "net_out_mbps": 50.0,
        "latency_ms": 20.0, "error_rate": 0.01}


RAW_SCHEMA = f"{RAW} string, {SOURCE} string"


def named(validated):
    """The pipeline's own columns under short names, for assertions (the default schema has no such fields)."""
    return validated.withColumnsRenamed({RAW: "value", REASON: "reason", DETAIL: "detail", SOURCE: "source_file"})


def line(**changes):
    record = {**GOOD, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not ...})


CASES = [
    ("good", line(), None),
    ("optional missing", line(error_rate=...), None),
    ("optional null", line(error_rate=None), None),
    ("epoch seconds time", line(event_time=1763719200), None),
    ("broken json", '{"event_id": "e1", "cpu_pct": ', "malformed_json"),
    ("not an object", "[1, 2, 3]", "malformed_json"),
    ("plain text", "hello world", "malformed_json"),
    ("empty", "", "empty_record"),
    ("blank", "   ", "empty_record"),
    ("tabs and a carriage return", "\t \t\r", "empty_record"),
    ("wrong type", line(cpu_pct="high"), "wrong_type"),
    ("bool for number", line(mem_pct=True), "wrong_type"),
    ("bad time", line(event_time="yesterday"), "wrong_type"),
    ("missing required", line(cpu_pct=...), "missing_required"),
    ("null required", line(device_id=None), "missing_required"),
    ("nan", line().replace('"cpu_pct": 40.0', '"cpu_pct": NaN'), "non_finite"),
    ("infinity", line().replace('"temp_c": 45.0', '"temp_c": Infinity'), "non_finite"),
    ("overflow", line().replace('"temp_c": 45.0', '"temp_c": 1e400'), "non_finite"),
    ("below range", line(cpu_pct=-1.0), "out_of_range"),
    ("above range", line(error_rate=1.5), "out_of_range"),
    ("unknown field", line(color="red"), "unknown_field"),
    ("oversized", line(device_id="d" * 5000), "oversized"),
    ("a little ahead", line(event_time="2026-11-21T10:05:59Z"), None),
    ("future", line(event_time="2026-11-21T10:06:01Z"), "future_event_time"),
    ("far future", line(event_time="9999-12-31T23:59:59Z"), "future_event_time"),
    ("old but kept", line(event_time="2017-01-01T00:00:00Z"), None),
    ("stale", line(event_time="1970-01-01T00:00:00Z"), "stale_event_time"),
]


@pytest.fixture(scope="module")
def validated(spark, default_config):
    raw = spark.createDataFrame([(c[1], "f.jsonl") for c in CASES], RAW_SCHEMA)
    rows = named(validate(raw, default_config, F.lit(INGESTED))).collect()
    return {case[0]: row for case, row in zip(CASES, rows)}


@pytest.mark.parametrize("name, text, reason", CASES, ids=[c[0] for c in CASES])
def test_each_kind_of_bad_input_gets_its_reason(validated, name, text, reason):
    row = validated[name]
    assert row.reason == reason, row.detail
    if reason is not None:
        assert row.detail, "a rejected record says what is wrong"
        assert row.value == text, "the raw record is kept verbatim"


def test_detail_names_the_field(validated):
    assert validated["wrong type"].detail == "cpu_pct: expected double, got high"
    assert validated["below range"].detail.startswith("cpu_pct: -1.0 is below the minimum 0.0")
    assert validated["unknown field"].detail == "unknown fields: color"
    assert validated["missing required"].detail == "cpu_pct: required field is missing or null"
    assert validated["future"].detail == ("event_time: 2026-11-21T10:06:01.000000Z is 301 s ahead of the ingestion "
                                          "time 2026-11-21T10:01:00Z (limit 300 s)")
    assert validated["stale"].detail.startswith(
        f"event_time: 1970-01-01T00:00:00.000000Z is {int(INGESTED.timestamp())} s behind the ingestion time")


def test_event_time_bounds_default_to_the_query_time(spark, default_config):
    raw = spark.createDataFrame([(line(event_time="2999-01-01T00:00:00Z"), "f")], RAW_SCHEMA)
    assert named(validate(raw, default_config)).first().reason == "future_event_time"


def test_an_epoch_number_before_year_one_is_stale(spark, default_config):
    # Found by the property test: -113688346755 s is the year -1633, a time Spark holds and Python cannot.
    raw = spark.createDataFrame([(line(event_time=-113688346755), "f")], RAW_SCHEMA)
    row = named(validate(raw, default_config, F.lit(INGESTED))).select("reason", "detail").first()
    assert row.reason == "stale_event_time" and row.detail.startswith("event_time: "), row.detail


def test_bytes_that_are_not_utf8_are_quarantined_readably(spark, default_config):
    good = line().encode()
    cases = [good.replace(b"dev-1", b"dev-\xff\xfe"), b"\xc3\x28", good[:40] + b"\xe2\x82" + good[40:]]
    raw = spark.createDataFrame([(c,) for c in cases], "b binary").select(
        F.col("b").cast("string").alias(RAW), F.lit("f").alias(SOURCE))
    rows = named(validate(raw, default_config, F.lit(INGESTED))).select("reason", "detail", readable_raw(F.col("value")).alias("raw")).collect()
    assert [r.reason for r in rows] == ["invalid_utf8"] * 3
    for original, row in zip(cases, rows):
        assert base64.b64decode(row.detail.rsplit(": ", 1)[1]) == original, "the detail keeps the exact bytes"
        assert row.raw == original.decode("utf-8", errors="replace"), "raw: each invalid sequence became U+FFFD"


def test_valid_rows_are_typed(validated):
    row = validated["good"]
    assert row.cpu_pct == 40.0 and row.device_id == "dev-1"
    assert row.event_time.isoformat().startswith("2026-11-21T10:00:00")
    assert validated["optional missing"].error_rate is None


def test_split_loses_nothing(spark, default_config):
    raw = spark.createDataFrame([(c[1], "f") for c in CASES], RAW_SCHEMA)
    valid, rejected = split_valid(validate(raw, default_config, F.lit(INGESTED)))
    assert valid.count() + rejected.count() == len(CASES)
    assert valid.count() == sum(1 for c in CASES if c[2] is None)


def test_unknown_fields_can_be_ignored(spark, default_config):
    import dataclasses
    lenient = dataclasses.replace(default_config, source=dataclasses.replace(default_config.source, unknown_fields="ignore"))
    raw = spark.createDataFrame([(line(color="red"), "f"), (line(_corrupt_record="x"), "f")], RAW_SCHEMA)
    assert [r.reason for r in named(validate(raw, lenient)).collect()] == [None, None]
    assert [r.reason for r in named(validate(raw, default_config)).collect()] == ["unknown_field", "unknown_field"]
