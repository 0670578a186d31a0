"""Dashboard refresh time with 10 million rows in `scores`, next to a naive full-table read.

    make bench-dashboard
    python benchmarks/dashboard_refresh.py --rows 10000000 --days 5 --commits 200 --rate 1000

1. Builds a `scores` table with pyarrow + delta-rs (catalog schema, `--days`
   event_date partitions, `--commits` appends like a stream's micro-batches,
   events at `--rate` per second of event time, so the default 10-minute
   window holds rate x 600 scores) and a matching `stream_stats`; not timed.
2. Times the refresh path itself: the functions the Dash callbacks call
   (dashboard.pages.*.refresh), on one long-lived reader as in the server:
   - live: a new micro-batch of scores and stream_stats was appended since the last refresh
   - idle: nothing changed since the last refresh
   - cold: a fresh reader (the first page load after the server starts)
3. Times the naive way in the same run: read the whole `scores` table into pandas.
Numbers, not assertions: printed and written to benchmarks/results/dashboard_refresh.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from deltalake import DeltaTable, write_deltalake  # noqa: E402

from dashboard.context import Context  # noqa: E402
from dashboard.delta import arrow_schema  # noqa: E402
from dashboard.pages import anomalies, models, overview  # noqa: E402
from lakehouse.config import Config, load_config  # noqa: E402

DEVICES = 50
START = datetime(2026, 11, 17, tzinfo=timezone.utc)


def percentile(values, q) -> float:
    return round(float(np.percentile(np.asarray(values, dtype=float), q)), 1)


def scores_batch(config: Config, rows: int, first: int, start: datetime, seconds: float, rng) -> pa.Table:
    """`rows` scored events spread evenly over `seconds` of event time from `start`."""
    s = config.schema
    schema = arrow_schema(config, "scores")
    ids = pc.binary_join_element_wise("evt-", pc.cast(pa.array(np.arange(first, first + rows)), pa.string()), "")
    offsets_us = np.sort(rng.uniform(0, seconds * 1e6, rows)).astype("int64")
    event_time = pa.array(int(start.timestamp() * 1e6) + offsets_us, pa.timestamp("us", tz="UTC"))
    score = rng.beta(2, 6, rows) * 0.5 + 0.25
    anomalous = score >= 0.62
    columns = {
        s.event_id: ids,
        s.key: pa.array([f"dev-{i:03d}" for i in range(DEVICES)]).take(pa.array(rng.integers(0, DEVICES, rows))),
        s.event_time: event_time,
        "anomaly_score": score,
        "is_anomaly": anomalous,
        "top_features": pa.array([["cpu_pct", "temp_c"] if a else None for a in anomalous], pa.list_(pa.string())),
        "threshold": np.full(rows, 0.62),
        "model_version": pa.array(np.where(np.arange(rows) % 3 == 0, "1", "2").astype(object)),
        "scored_at": event_time,
        "event_date": pc.cast(event_time, pa.date32()),
    }
    for name in config.features:
        columns[name] = rng.normal(50, 10, rows)
    return pa.table({f.name: columns[f.name] for f in schema}, schema=schema)


def stats_row(config: Config, batch_id: int, finished: datetime, rows: int) -> pa.Table:
    values = {"batch_id": batch_id, "started_at": finished - timedelta(seconds=1), "finished_at": finished,
              "duration_ms": 900, "rows_in": rows, "rows_valid": rows, "rows_quarantined": 0, "rows_scored": rows,
              "anomalies": rows // 100, "anomaly_rate": 0.01, "input_rate": float(rows), "processing_rate": float(rows),
              "bytes_in": rows * 150, "latency_p50_ms": 700.0, "latency_p95_ms": 1400.0, "latency_max_ms": 1800.0,
              "model_version": "2", "threshold": 0.62, "model_status": "ok"}
    return pa.Table.from_pylist([values], schema=arrow_schema(config, "stream_stats"))


def build_lake(config: Config, rows: int, days: int, commits: int, rate: float, rng) -> datetime:
    """Writes `scores` and `stream_stats`: each day's share of the rows arrives at `rate` events/s up to
    its midnight, in commits/days appends. Returns the newest event time."""
    per_commit, commits_per_day = rows // commits, commits // days
    scores, stats = config.lake_path("scores"), config.lake_path("stream_stats")
    for day in range(days):
        day_end = START + timedelta(days=day + 1)
        t = day_end - timedelta(seconds=per_commit * commits_per_day / rate)
        for i in range(commits_per_day):
            n = day * commits_per_day + i
            write_deltalake(scores, scores_batch(config, per_commit, n * per_commit, t, per_commit / rate, rng),
                            mode="append", partition_by=["event_date"])
            t += timedelta(seconds=per_commit / rate)
            write_deltalake(stats, stats_row(config, n, t, per_commit), mode="append")
        print(f"  built {(day + 1) * commits_per_day * per_commit:,} rows in {(day + 1) * commits_per_day} commits",
              flush=True)
    return t - timedelta(microseconds=1)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def summary(values: list[float]) -> dict:
    return {"p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95), "runs": len(values)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "conf" / "default.toml"))
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--days", type=int, default=5)
    p.add_argument("--commits", type=int, default=200)
    p.add_argument("--rate", type=float, default=1000.0, help="events/s of event time within each day's data")
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--naive-runs", type=int, default=5)
    p.add_argument("--lake", default=None, help="where to build the benchmark lake (default: a temp dir)")
    args = p.parse_args()
    rng = np.random.default_rng(7)
    lake = Path(args.lake or tempfile.mkdtemp(prefix="isoguard-dash-bench-")) / "lake"
    config = load_config(args.config, environ={}).with_lake(str(lake))

    print(f"building {args.rows:,} scores over {args.days} days in {args.commits} commits under {lake}", flush=True)
    t = time.perf_counter()
    newest = build_lake(config, args.rows, args.days, args.commits, args.rate, rng)
    print(f"built in {time.perf_counter() - t:.0f} s", flush=True)

    window = config.dashboard.window_minutes
    pages = {  # each refresh is what that page's interval callback calls
        "overview": lambda ctx: overview.refresh(ctx),
        "anomalies": lambda ctx: anomalies.refresh(ctx, anomalies.Filters(minutes=window)),
        "models": lambda ctx: models.refresh(ctx),
    }
    results: dict = {"rows": args.rows, "days": args.days, "commits": args.commits, "rate": args.rate,
                     "window_minutes": window, "cpus": os.cpu_count(), "refresh": {}}
    ctx = Context.create(config)
    for fn in pages.values():
        fn(ctx)  # warm: the server has served the page before
    live = {name: [] for name in pages}
    idle = {name: [] for name in pages}
    batch_id, first = args.commits, args.rows
    for _ in range(args.runs):
        newest += timedelta(seconds=1)
        write_deltalake(config.lake_path("scores"), scores_batch(config, int(args.rate), first, newest, 1.0, rng),
                        mode="append", partition_by=["event_date"])
        write_deltalake(config.lake_path("stream_stats"), stats_row(config, batch_id, newest, int(args.rate)), mode="append")
        batch_id, first = batch_id + 1, first + int(args.rate)
        for name, fn in pages.items():
            live[name].append(timed(lambda: fn(ctx)))
            idle[name].append(timed(lambda: fn(ctx)))
    cold = {name: [timed(lambda: fn(Context.create(config))) for _ in range(3)] for name, fn in pages.items()}
    for name in pages:
        results["refresh"][name] = {"live": summary(live[name]), "idle": summary(idle[name]),
                                    "cold": summary(cold[name])}
    naive = [timed(lambda: DeltaTable(config.lake_path("scores")).to_pandas()) for _ in range(args.naive_runs)]
    results["naive_full_read"] = summary(naive)
    files = len(DeltaTable(config.lake_path("scores")).file_uris())
    results["files"] = files
    results["load_average_1m"] = round(os.getloadavg()[0], 1)  # other work on the machine skews the numbers

    print(f"\nscores: {args.rows + args.runs * int(args.rate):,} rows in {files} files over {args.days} event_date "
          f"partitions (+1 for the live appends); load average {results['load_average_1m']} on {os.cpu_count()} cores")
    print(f"{'refresh path':<34}{'p50 ms':>10}{'p95 ms':>10}")
    for name in pages:
        for kind in ("live", "idle", "cold"):
            r = results["refresh"][name][kind]
            print(f"{name + ' (' + kind + ')':<34}{r['p50_ms']:>10}{r['p95_ms']:>10}")
    print(f"{'naive: whole scores table read':<34}{results['naive_full_read']['p50_ms']:>10}"
          f"{results['naive_full_read']['p95_ms']:>10}")
    out = ROOT / "benchmarks" / "results" / "dashboard_refresh.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
