"""Streaming throughput, end to end into Delta, with scikit-learn's scoring side by side.

    make bench                                  # 2,000,000 events
    python benchmarks/stream_throughput.py --events 500000 --files-per-batch 10

1. Pre-generates the events as JSON-lines files in a fresh lake (not timed).
2. Registers a champion fitted on a separate generated sample.
3. Runs the real streaming job over the files (availableNow, maxFilesPerTrigger)
   and reports sustained events/s, MB/s and micro-batch duration percentiles.
4. On the same rows and forest: scikit-learn's score_samples (one process) versus
   the Spark scoring path alone (IsolationForestModel.transform).
Numbers, not assertions: results are printed and written to benchmarks/results/.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from deltalake import DeltaTable  # noqa: E402

from lakehouse.config import load_config  # noqa: E402
from lakehouse.session import build_spark  # noqa: E402
from models import registry  # noqa: E402
from models.forest import IsolationForest  # noqa: E402
from streaming.champion import ChampionWatcher  # noqa: E402
from streaming.generator import FleetSimulator, LandingWriter, run_generator  # noqa: E402
from streaming.job import start_stream  # noqa: E402


def percentile(values, q):
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "conf" / "default.toml"))
    p.add_argument("--events", type=int, default=2_000_000)
    p.add_argument("--events-per-file", type=int, default=10_000)
    p.add_argument("--files-per-batch", type=int, default=20)
    p.add_argument("--lake", default=None, help="where to build the benchmark lake (default: a temp dir)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("streaming.sink").setLevel(logging.INFO)  # per-batch timings

    lake = Path(args.lake or tempfile.mkdtemp(prefix="isoguard-bench-")) / "lake"
    base = load_config(args.config, environ={}).with_lake(str(lake))
    config = dataclasses.replace(base, source=dataclasses.replace(base.source, max_files_per_trigger=args.files_per_batch))
    t0 = datetime(2026, 11, 21, tzinfo=timezone.utc).timestamp()
    rate = 20_000.0
    sim = FleetSimulator(devices=200, seed=1, drift_start=t0)

    print(f"generating {args.events:,} events into {config.landing_path} ...", flush=True)
    gen_start = time.time()
    run_generator(sim, LandingWriter(config.landing_path, lake / "truth"), rate=rate, duration=args.events / rate,
                  file_seconds=args.events_per_file / rate, start=t0, log=lambda m: None)
    landed_bytes = sum(f.stat().st_size for f in Path(config.landing_path).glob("*.jsonl"))
    print(f"  {landed_bytes / 1e6:,.0f} MB in {time.time() - gen_start:.1f} s (not part of the measurement)")

    spark = build_spark("isoguard-bench", conf={"spark.ui.enabled": "false"})
    train_events, _ = FleetSimulator(devices=200, seed=1, drift_start=t0).generate(t0 - 3600, t0, 100_000, 10**9)
    features = list(config.features)
    model = IsolationForest(inputCols=features, numTrees=config.model.num_trees, maxSamples=config.model.max_samples,
                            contamination=config.model.contamination, seed=1).fit(spark.createDataFrame(train_events[features]))
    version = registry.register_model(model, config, {"window": "benchmark"}, {"training_rows": 100_000})
    registry.set_alias(config, version)

    champion = ChampionWatcher(config).start()
    print(f"streaming {args.files_per_batch} files ({args.files_per_batch * args.events_per_file:,} events) per micro-batch ...", flush=True)
    stream_start = time.time()
    query = start_stream(spark, config, champion, available_now=True)
    query.awaitTermination()
    stream_seconds = time.time() - stream_start
    champion.stop()
    if query.exception():
        raise RuntimeError(query.exception())

    stats = DeltaTable(config.lake_path("stream_stats")).to_pandas().sort_values("batch_id")
    rows = int(stats.rows_in.sum())
    scored = int(stats.rows_scored.sum())
    in_bytes = int(stats.bytes_in.sum())
    durations = stats.duration_ms.to_numpy() / 1000.0
    # Steady state: after the first micro-batch (JVM warm-up, Python workers, first Delta commits).
    warm = stats.iloc[1:]
    warm_seconds = (warm.finished_at.max() - warm.started_at.min()).total_seconds() if len(warm) else float("nan")

    # Scoring alone, side by side, on the same rows and forest.
    events = DeltaTable(config.lake_path("events")).to_pandas(columns=features)
    X = events[features].astype("float64").fillna(0.0).to_numpy()
    sk_start = time.time()
    sk_scores = -model.forest_.score_samples(X)
    sk_seconds = time.time() - sk_start
    spark_events = spark.read.format("delta").load(config.lake_path("events")).select(*features).cache()
    spark_events.count()
    sp_start = time.time()
    model.transform(spark_events).write.format("noop").mode("overwrite").save()
    sp_seconds = time.time() - sp_start

    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        "events": rows, "scored": scored, "bytes": in_bytes, "micro_batches": len(stats),
        "stream_seconds": stream_seconds,
        "events_per_second": rows / stream_seconds,
        "mb_per_second": in_bytes / 1e6 / stream_seconds,
        "steady_events_per_second": float(warm.rows_in.sum()) / warm_seconds if len(warm) else None,
        "steady_mb_per_second": float(warm.bytes_in.sum()) / 1e6 / warm_seconds if len(warm) else None,
        "batch_seconds_p50": percentile(durations, 50), "batch_seconds_p95": percentile(durations, 95),
        "batch_events_per_second_p50": percentile(stats.processing_rate, 50),
        "sklearn_score_samples_events_per_second": len(X) / sk_seconds,
        "spark_scoring_events_per_second": len(X) / sp_seconds,
        "anomaly_rate": float(stats.anomalies.sum()) / scored if scored else None,
        "sklearn_mean_score": float(sk_scores.mean()),
    }
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "stream_throughput.json").write_text(json.dumps(result, indent=2))
    print()
    print("end to end (JSON files -> validate -> events, quarantine, scores, stream_stats in Delta):")
    print(f"  {rows:,} events, {in_bytes / 1e6:,.0f} MB in {stream_seconds:.1f} s over {len(stats)} micro-batches")
    print(f"  sustained: {result['events_per_second']:,.0f} events/s, {result['mb_per_second']:.1f} MB/s "
          f"(seed requirement 10 MB/s, goal 30 MB/s)")
    if len(warm):
        print(f"  after the first micro-batch: {result['steady_events_per_second']:,.0f} events/s, "
              f"{result['steady_mb_per_second']:.1f} MB/s")
    print(f"  micro-batch duration: p50 {result['batch_seconds_p50']:.2f} s, p95 {result['batch_seconds_p95']:.2f} s")
    print(f"scoring alone, same {len(X):,} rows and forest ({config.model.num_trees} trees):")
    print(f"  scikit-learn score_samples, one process: {result['sklearn_score_samples_events_per_second']:,.0f} events/s")
    print(f"  Spark IsolationForestModel.transform:    {result['spark_scoring_events_per_second']:,.0f} events/s")
    print(f"results written to {out_dir / 'stream_throughput.json'}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
