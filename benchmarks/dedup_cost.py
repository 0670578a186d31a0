"""CPU cost of the duplicate check per micro-batch (streaming/dedup.py), measured the way the sink runs it.

    .venv/bin/python benchmarks/dedup_cost.py --rows 200000 --window 5000000 --repeats 8

Each repeat validates a fresh micro-batch of generated events (JSON lines) into a
cached frame, as the sink does, and runs the sink's totals aggregation; the `dedup`
variant then also runs `drop_duplicates` and `advance` against a window of --window
stored ids (2 minutes at 42k events/s is about 5 million). The difference of the two
medians is the check's cost. CPU seconds are this process plus its JVM's (/proc),
so driver, executors and Python all count; `dedup_driver` is the numpy part alone.
The variants alternate which goes first. Numbers, not assertions; written to
benchmarks/results/dedup_cost.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from pyspark import StorageLevel  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from features.validation import validate  # noqa: E402
from lakehouse.columns import ARRIVED, INGESTED, RAW, REASON, RECORD_BYTES, SOURCE  # noqa: E402
from lakehouse.config import load_config  # noqa: E402
from lakehouse.session import build_spark  # noqa: E402
from lakehouse.eventtime import MICROS  # noqa: E402
from streaming.clock import EventClock  # noqa: E402
from streaming.dedup import Deduplicator  # noqa: E402
from simulation.fleet import FleetSimulator  # noqa: E402

T0 = 1_795_000_000.0  # 2026-11-19T...Z: any fixed instant; the batches' event times move on from it
RATE = 42_000         # events/s at 10 MB/s


class CpuClock:
    """CPU seconds of this Python process plus its JVM."""

    def __init__(self, spark):
        self.jvm_pid = spark._jvm.java.lang.ProcessHandle.current().pid()
        self.tick = os.sysconf("SC_CLK_TCK")

    def __call__(self) -> float:
        fields = Path(f"/proc/{self.jvm_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return time.process_time() + (int(fields[11]) + int(fields[12])) / self.tick


def raw_batch(spark, rows: int, start: float, first_seq: int):
    events, _ = FleetSimulator(devices=200, seed=1).generate(start, start + rows / RATE, rows, first_seq)
    lines = events.to_json(orient="records", lines=True).splitlines()
    frame = pd.DataFrame({RAW: lines, SOURCE: [f"file:///landing/f{int(start)}-{i // 10000}" for i in range(rows)]})
    raw = (spark.createDataFrame(frame).repartition(2)
           .withColumn(ARRIVED, F.current_timestamp()).persist(StorageLevel.MEMORY_ONLY))
    raw.count()
    return raw


def totals_columns():
    """The sink's totals aggregation (without the late-event columns, which need a lake)."""
    return [F.count(F.lit(1)).alias("rows_in"), F.count(F.when(F.col(REASON).isNull(), 1)).alias("rows_valid"),
            F.coalesce(F.sum(RECORD_BYTES), F.lit(0)).alias("bytes_in"),
            F.percentile_approx(F.unix_millis(ARRIVED), [0.5, 0.05]).alias("arrival_q"),
            F.min(F.unix_millis(ARRIVED)).alias("arrival_min"), F.max(F.unix_millis(ARRIVED)).alias("arrival_max")]


def validated_frame(raw, config, now):
    return (validate(raw.withColumn(INGESTED, F.lit(now).cast("timestamp")), config, F.col(INGESTED))
            .withColumn(RECORD_BYTES, F.octet_length(RAW))
            .withColumn(RAW, F.when(F.col(REASON).isNotNull(), F.col(RAW)))
            .persist(StorageLevel.MEMORY_AND_DISK))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--window", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args()

    spark = build_spark("isoguard-bench-dedup", conf={"spark.ui.enabled": "false"})
    config = load_config(ROOT / "conf" / "default.toml", environ={})
    cpu = CpuClock(spark)
    clock = EventClock.at(int(T0 * MICROS))  # the window is synthetic: no tables to rebuild it from
    dedup = Deduplicator(config, clock)
    dedup._restored = True
    rng = np.random.default_rng(1)
    seconds_per_batch = args.rows / RATE
    span = config.summaries.watermark_seconds
    dedup.window.add(rng.integers(-2**63, 2**63 - 1, args.window, dtype=np.int64),
                     rng.integers(-2**31, 2**31 - 1, args.window, dtype=np.int64).astype(np.int32),
                     np.sort(rng.uniform((T0 - span) * MICROS, T0 * MICROS, args.window)).astype(np.int64))

    idle_start = cpu()
    time.sleep(5)
    idle_per_second = (cpu() - idle_start) / 5
    results = {"baseline": [], "dedup": [], "dedup_driver": []}
    start = T0
    for repeat in range(args.repeats + 1):  # the first round warms the JVM up and is not counted
        raw = raw_batch(spark, args.rows, start, repeat * args.rows)
        now = pd.Timestamp(start + seconds_per_batch + 1, unit="s", tz="UTC").to_pydatetime()
        round_ = {}
        for variant in ("baseline", "dedup") if repeat % 2 else ("dedup", "baseline"):
            validated = validated_frame(raw, config, now)
            c0 = cpu()
            validated.agg(*totals_columns()).first()
            if variant == "dedup":
                d0 = time.process_time()
                unique = dedup.drop_duplicates(validated.filter(F.col(REASON).isNull()))
                clock.observe(int(unique.times.max()))  # as the sink does, once the batch is recorded
                clock.advance()
                dedup.advance()
                round_["dedup_driver"] = time.process_time() - d0
                assert unique.duplicates == 0
            round_[variant] = cpu() - c0
            validated.unpersist()
        raw.unpersist()
        start += seconds_per_batch
        if repeat:
            for name, value in round_.items():
                results[name].append(value)
        print(f"round {repeat}: " + ", ".join(f"{k} {v:.3f}s" for k, v in round_.items()) + f", window {len(dedup.window)}",
              flush=True)
    summary = {name: statistics.median(values) for name, values in results.items()}
    report = {
        "rows": args.rows, "window": len(dedup.window), "repeats": args.repeats,
        "jvm_idle_cpu_seconds_per_second": idle_per_second,
        "median_cpu_seconds": summary,
        "dedup_cost_cpu_seconds": summary["dedup"] - summary["baseline"],
        "all_rounds": results,
    }
    print(json.dumps(report, indent=2))
    out = ROOT / "benchmarks" / "results" / "dedup_cost.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    spark.stop()


if __name__ == "__main__":
    main()
