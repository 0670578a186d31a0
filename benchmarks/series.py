"""Per-key series detection throughput at the detector level (the stream's keyed-state wiring is not in yet).

    python benchmarks/series.py                      # all parts, about 3-6 minutes of CPU
    python benchmarks/series.py --keys-small 200 --keys-large 10000 --no-rrcf

Measures, in one process and one run:

1. the `rrcf` library (if installed): insert + CoDisp + forget per point on shingles of 4, 50 trees of 256,
   as in its streaming example: points/s;
2. models.series.rcf alone on the same settings: points/s;
3. `SeriesDetector.update` per key, the function Spark's keyed state will call: for `--keys-small` keys
   (default 1,000) at 1 event/s, micro-batches of 10 s, so 10 events per key per call, all three detectors;
   and for `--keys-large` keys (default 100,000) at 1 event/min, one event per key per call, with the
   detectors whose state fits that many keys in memory (z-score and seasonal baseline; the forest's state is
   about 1.5 MB per key, see the table). Each call loads the key's state blob and writes the next one, as the
   state store would. Events/s, and state bytes per key; the large case also through `update_arrays`
   (numpy in and out), which shows what building the pandas frames costs;
4. scikit-learn's IsolationForest (100 trees of 256) `score_samples` on the same events' shingles, beside it.

Reports wall time and the process's CPU time (the 2-core machine may be shared: CPU time is the fairer
number, wall time the one a user sees). Results go to benchmarks/results/series.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402

from models.series.detector import SeriesDetector  # noqa: E402
from models.series.rcf import RandomCutForest  # noqa: E402

SHINGLE, TREES, TREE_SIZE = 4, 50, 256


class Timer:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def rates(self, events: int) -> dict:
        return {"events": events, "wall_s": round(self.wall, 2), "cpu_s": round(self.cpu, 2),
                "events_per_s_wall": round(events / self.wall), "events_per_s_cpu": round(events / self.cpu)}


def shingles(n: int, seed: int = 0) -> np.ndarray:
    x = np.sin(np.arange(n + SHINGLE) / 40) + np.random.default_rng(seed).normal(0, 0.1, n + SHINGLE)
    return np.lib.stride_tricks.sliding_window_view(x, SHINGLE)[:n].copy()


def bench_rrcf_library(points: int) -> dict | None:
    try:
        import rrcf
    except ImportError:
        return None
    X = shingles(TREE_SIZE + points)
    forest = [rrcf.RCTree() for _ in range(TREES)]
    for i in range(TREE_SIZE):  # fill the trees first (not timed), so the timed points pay the forget too
        for tree in forest:
            tree.insert_point(X[i], index=i)
    with Timer() as t:
        for i in range(TREE_SIZE, TREE_SIZE + points):
            for tree in forest:
                tree.forget_point(i - TREE_SIZE)
                tree.insert_point(X[i], index=i)
                tree.codisp(i)
    return t.rates(points)


def bench_forest(points: int) -> dict:
    forest = RandomCutForest(TREES, TREE_SIZE, seed=0)
    state = forest.initial_state(SHINGLE)
    X = shingles(points + 2000)
    forest.update(state, X[:2000])  # compile and fill (not timed)
    with Timer() as t:
        forest.update(state, X[2000:])
    return t.rates(points)


def key_batches(keys: int, per_call: int, calls: int, seconds_apart: float, seed: int = 0) -> list[list]:
    """calls x keys frames of `per_call` events each (event_time, value): a sine per key plus noise."""
    rng = np.random.default_rng(seed)
    phase, level = rng.uniform(0, 6.3, keys), rng.uniform(1, 100, keys)
    start = pd.Timestamp("2026-11-02")
    out = []
    for c in range(calls):
        steps = np.arange(c * per_call, (c + 1) * per_call)
        times = start + pd.to_timedelta(steps * seconds_apart, unit="s")
        batch = []
        for k in range(keys):
            values = level[k] * (1 + 0.2 * np.sin(steps / 60 + phase[k])) + rng.normal(0, 1, per_call)
            batch.append(pd.DataFrame({"event_time": times, "value": values}))
        out.append(batch)
    return out


def bench_keys(detector: SeriesDetector, keys: int, per_call: int, warm_calls: int, timed_calls: int,
               seconds_apart: float, arrays: bool = False) -> dict:
    """Per-key calls in micro-batch order; `arrays` times `update_arrays` (numpy in and out) instead of the
    pandas `update` (what applyInPandasWithState hands over), to show what the frames cost."""
    batches = key_batches(keys, per_call, warm_calls + timed_calls, seconds_apart)
    if arrays:
        batches = [[(_epoch(f["event_time"]), f["value"].to_numpy()) for f in batch] for batch in batches]

        def call(blob, frame):
            return detector.update_arrays(blob, *frame)[1:]
    else:
        call = detector.update
    state: list[bytes | None] = [None] * keys
    for c in range(warm_calls):  # keys learn first (not timed)
        for k in range(keys):
            _, state[k] = call(state[k], batches[c][k])
    with Timer() as t:
        for c in range(warm_calls, warm_calls + timed_calls):
            for k in range(keys):
                _, state[k] = call(state[k], batches[c][k])
    return t.rates(keys * per_call * timed_calls) | {
        "keys": keys, "events_per_key_per_call": per_call, "state_bytes_per_key": len(state[0]),
        "state_bytes_total": int(sum(len(s) for s in state))}


def _epoch(times: pd.Series) -> np.ndarray:
    return times.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9


def bench_isolation_forest(rows: int) -> dict:
    X = shingles(rows, seed=1)
    forest = IsolationForest(n_estimators=100, max_samples=256, random_state=0).fit(X[:10_000])
    with Timer() as t:
        forest.score_samples(X)
    return t.rates(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys-small", type=int, default=1000)
    parser.add_argument("--keys-large", type=int, default=100_000)
    parser.add_argument("--forest-points", type=int, default=20_000)
    parser.add_argument("--rrcf-points", type=int, default=200)
    parser.add_argument("--no-rrcf", action="store_true", help="skip the (slow) rrcf library")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "series.json")
    args = parser.parse_args(argv)
    results = {"settings": {"shingle": SHINGLE, "trees": TREES, "tree_size": TREE_SIZE}}
    if not args.no_rrcf:
        results["rrcf_library"] = bench_rrcf_library(args.rrcf_points)
        print("rrcf library:", results["rrcf_library"], flush=True)
    results["own_forest"] = bench_forest(args.forest_points)
    print("models.series.rcf:", results["own_forest"], flush=True)
    full = SeriesDetector(shingle_size=SHINGLE, num_trees=TREES, tree_size=TREE_SIZE, min_history=20)
    results["keys_small_all_detectors"] = bench_keys(full, args.keys_small, per_call=10, warm_calls=3,
                                                     timed_calls=2, seconds_apart=1.0)
    print(f"{args.keys_small} keys, 10 events/call, rcf+zscore+seasonal:", results["keys_small_all_detectors"],
          flush=True)
    cheap = SeriesDetector(detectors=("zscore", "seasonal"), min_history=20)
    results["keys_small_cheap"] = bench_keys(cheap, args.keys_small, per_call=10, warm_calls=3, timed_calls=2,
                                             seconds_apart=1.0)
    print(f"{args.keys_small} keys, 10 events/call, zscore+seasonal:", results["keys_small_cheap"], flush=True)
    results["keys_large_cheap"] = bench_keys(cheap, args.keys_large, per_call=1, warm_calls=1, timed_calls=1,
                                             seconds_apart=60.0)
    print(f"{args.keys_large} keys, 1 event/call, zscore+seasonal:", results["keys_large_cheap"], flush=True)
    results["keys_large_cheap_arrays"] = bench_keys(cheap, args.keys_large, per_call=1, warm_calls=1,
                                                    timed_calls=1, seconds_apart=60.0, arrays=True)
    print(f"{args.keys_large} keys, 1 event/call, zscore+seasonal, update_arrays:",
          results["keys_large_cheap_arrays"], flush=True)
    results["state_bytes_per_key"] = {
        "rcf 50x256 + zscore + seasonal": full.state_size(), "zscore + seasonal": cheap.state_size(),
        "rcf 20x64 + zscore + seasonal": SeriesDetector(num_trees=20, tree_size=64).state_size(),
        "rcf 10x32 + zscore + seasonal": SeriesDetector(num_trees=10, tree_size=32).state_size()}
    print("state bytes per key:", results["state_bytes_per_key"], flush=True)
    results["sklearn_isolation_forest_score_samples"] = bench_isolation_forest(200_000)
    print("scikit-learn IsolationForest.score_samples:", results["sklearn_isolation_forest_score_samples"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
