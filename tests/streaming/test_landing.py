"""Landing-file semantics: whatever a producer lands is read whole or reported with its path; nothing crashes.

Spark's file source alone skips re-landed names, old files (`maxFileAge`) and sub-directories without a trace,
follows symlinks out of the landing folder, splits records on a bare CR, and dies on a truncated `.gz`, on a
name with `:`, reads the other files of a micro-batch twice when one name holds a glob character
(`{ [ * ?`), and dies on a file deleted between planning and reading. These tests land such files for real and run
the real stream over them.
"""
import gzip
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
from deltalake import DeltaTable

from conftest import ROOT, config_in
from lakehouse.catalog import ensure_tables
from streaming.champion import ChampionWatcher
from streaming.job import start_stream

T = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
FIELDS = {"device_id": "dev-1", "cpu_pct": 40.0, "mem_pct": 50.0, "temp_c": 45.0, "disk_io_mbps": 10.0,
          "net_in_mbps": 100.0, "net_out_mbps": 50.0, "latency_ms": 20.0}


def event(event_id: str, seconds: int = 0) -> str:
    return json.dumps({"event_id": event_id, "event_time": (T + timedelta(seconds=seconds)).isoformat(), **FIELDS})


def lines(*ids: str) -> bytes:
    return "".join(event(i, n) + "\n" for n, i in enumerate(ids)).encode()


def land(landing: Path, name: str, content: bytes) -> Path:
    """As the contract says: a hidden temporary name, then a rename."""
    target = landing / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, target)
    return target


def run_stream(spark, config):
    query = start_stream(spark, config, ChampionWatcher(config), available_now=True)
    query.awaitTermination()
    assert query.exception() is None, query.exception()


def table(config, name) -> pd.DataFrame:
    return DeltaTable(config.lake_path(name)).to_pandas()


def quarantined(config) -> pd.DataFrame:
    return table(config, "quarantine")


def assert_rows_accounted(config):
    stats, events = table(config, "stream_stats"), table(config, "events")
    assert (stats.rows_in == stats.rows_valid + stats.rows_quarantined + stats.rows_duplicate.fillna(0)).all()
    assert stats.rows_in.sum() == len(events) + len(quarantined(config)) + stats.rows_duplicate.fillna(0).sum()


def test_poison_and_odd_files_are_read_or_quarantined_with_their_path_and_the_stream_goes_on(spark, tmp_path):
    config = config_in(tmp_path / "lake")
    ensure_tables(spark, config)
    landing = Path(config.landing_path)
    land(landing, "good.jsonl", lines("good-1", "good-2"))
    land(landing, "a:b.json", lines("colon-1"))                               # URISyntaxException in Hadoop
    for n, name in enumerate(["b{x}.jsonl", "c[1].jsonl", "d*.jsonl", "e?.jsonl"]):  # globs: other files read twice
        land(landing, name, lines(f"glob-{n}"))
    land(landing, "ok.json.gz", gzip.compress(lines("gz-1", "gz-2")))
    land(landing, "cut.json.gz", gzip.compress(lines(*[f"cut-{i}" for i in range(2000)]))[:3000])  # truncated
    land(landing, "sub/dir/nested.jsonl", lines("nested-1"))                  # the file source does not recurse
    old = land(landing, "old.jsonl", lines("old-1"))                          # cp -p of a month-old file
    month_ago = time.time() - 30 * 86400
    os.utime(old, (month_ago, month_ago))
    outside = tmp_path / "passwd"
    outside.write_text("root:x:0:0:root:/root:/bin/bash\n")
    os.symlink(outside, landing / "passwd.jsonl")                             # leads outside the landing folder
    os.mkfifo(landing / "pipe.jsonl")                                         # would block a reader forever

    run_stream(spark, config)

    events = table(config, "events")
    assert sorted(events.event_id) == sorted(["good-1", "good-2", "colon-1", "gz-1", "gz-2", "nested-1", "old-1",
                                              "glob-0", "glob-1", "glob-2", "glob-3"])
    assert events.source_file[events.event_id == "glob-0"].iloc[0].endswith("/landing/b%7Bx%7D.jsonl")
    assert events.source_file[events.event_id == "colon-1"].iloc[0].endswith("/landing/a:b.json")
    assert events.source_file[events.event_id == "nested-1"].iloc[0].endswith("/landing/sub/dir/nested.jsonl")
    q = quarantined(config)
    by_file = {Path(f).name: r for f, r in zip(q.source_file, q.reason)}
    assert by_file == {"cut.json.gz": "unreadable_file", "passwd.jsonl": "symlink_not_followed",
                       "pipe.jsonl": "not_a_regular_file"}, q[["source_file", "reason", "detail"]]
    assert not q.raw.fillna("").str.contains("root:x").any(), "the symlink's target is never read"
    assert "outside the landing folder" in q.detail[q.reason == "symlink_not_followed"].iloc[0]
    stats = table(config, "stream_stats")
    assert stats.files_rejected.sum() == 3 and stats.files_changed.sum() == 0
    assert stats.rows_duplicate.fillna(0).sum() == 0, "no file was read twice"
    assert stats.latency_max_ms.max() < 2 * 86400 * 1000, "a copied file's old mtime is not its arrival"
    assert_rows_accounted(config)

    # A restart reads nothing twice and reports nothing twice.
    run_stream(spark, config)
    assert len(table(config, "events")) == len(events) and len(quarantined(config)) == len(q)


def test_an_overwritten_or_re_landed_file_is_read_again_and_reported(spark, tmp_path):
    config = config_in(tmp_path / "lake")
    ensure_tables(spark, config)
    landing = Path(config.landing_path)
    land(landing, "batch.jsonl", lines("first-1", "first-2"))
    land(landing, "again.jsonl", lines("again-1"))
    run_stream(spark, config)
    assert set(table(config, "events").event_id) == {"first-1", "first-2", "again-1"}

    land(landing, "batch.jsonl", lines("second-1", "second-2", "second-3"))   # renamed over the first
    (landing / "again.jsonl").unlink()
    land(landing, "again.jsonl", lines("again-2"))                            # the name landed a second time
    run_stream(spark, config)

    events = table(config, "events")
    assert set(events.event_id) == {"first-1", "first-2", "again-1", "second-1", "second-2", "second-3", "again-2"}
    q = quarantined(config)
    changed = q[q.reason == "file_changed_after_read"]
    assert sorted(Path(f).name for f in changed.source_file) == ["again.jsonl", "batch.jsonl"]
    assert table(config, "stream_stats").files_changed.sum() == 2
    assert_rows_accounted(config)


def test_an_appended_file_is_detected_and_its_rest_is_read(spark, tmp_path):
    """A non-atomic writer: half a line, the rest appended after the batch committed (not supported, detected)."""
    config = config_in(tmp_path / "lake")
    ensure_tables(spark, config)
    landing = Path(config.landing_path)
    whole = lines("app-1", "app-2", "app-3")
    cut = whole.index(b"\n") + 20
    land(landing, "growing.jsonl", whole[:cut])
    run_stream(spark, config)
    with open(landing / "growing.jsonl", "ab") as fh:
        fh.write(whole[cut:])
    run_stream(spark, config)
    assert set(table(config, "events").event_id) == {"app-1", "app-2", "app-3"}
    q = quarantined(config)
    assert list(q.reason[q.reason == "file_changed_after_read"]) == ["file_changed_after_read"]
    assert "growing.jsonl" in q.source_file[q.reason == "file_changed_after_read"].iloc[0]
    assert table(config, "stream_stats").rows_duplicate.sum() == 1, "app-1, read twice, is stored once"
    assert_rows_accounted(config)


def test_two_replays_into_one_landing_folder_store_every_row(spark, tmp_path):
    config = config_in(tmp_path / "lake")
    ensure_tables(spark, config)
    for n, name in enumerate(("first.csv", "second.csv")):
        csv = tmp_path / name
        pd.DataFrame({"ts": [f"2026-11-21 10:00:{s:02d}" for s in range(6)], "device_id": f"dev-{n}",
                      **{k: v for k, v in FIELDS.items() if k != "device_id"}}).to_csv(csv, index=False)
        result = subprocess.run([sys.executable, "-m", "simulation.generate", "--replay", str(csv), "--time-col", "ts",
                                 "--speed", "0", "--file-seconds", "2", "--landing", config.landing_path], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    run_stream(spark, config)
    events = table(config, "events")
    assert len(events) == 12 and events.event_id.is_unique
    assert sorted(events.device_id.value_counts()) == [6, 6]
    assert_rows_accounted(config)


def test_records_split_on_line_feeds_only(spark, tmp_path):
    """A bare CR is JSON whitespace, not a line end; CRLF files still work."""
    config = config_in(tmp_path / "lake")
    ensure_tables(spark, config)
    landing = Path(config.landing_path)
    land(landing, "cr.jsonl", event("cr-1").replace(", ", ",\r").encode() + b"\n")
    land(landing, "crlf.jsonl", b"".join(event(f"crlf-{i}", i).encode() + b"\r\n" for i in range(3)))
    run_stream(spark, config)
    assert set(table(config, "events").event_id) == {"cr-1", "crlf-0", "crlf-1", "crlf-2"}
    assert len(quarantined(config)) == 0


def test_a_file_deleted_after_planning_is_still_read(spark, tmp_path):
    """The planner's copy is what Spark reads: a file removed from the landing folder after it was planned (by a
    cleanup job, say) is not lost, and the job does not die with FileNotFoundException."""
    from streaming.sources import landing_planner

    config = config_in(tmp_path / "lake")
    ensure_tables(spark, config)
    landing = Path(config.landing_path)
    doomed = land(landing, "doomed.jsonl", lines("doomed-1", "doomed-2"))
    landing_planner(config).plan()
    doomed.unlink()
    run_stream(spark, config)
    assert set(table(config, "events").event_id) == {"doomed-1", "doomed-2"}
