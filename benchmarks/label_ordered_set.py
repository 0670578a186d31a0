"""Write a large labelled CSV whose row order tracks the label: the worst case for a sampler that cuts by position.

    python benchmarks/label_ordered_set.py --rows 300000 --out /tmp/label_ordered.csv
    python -m commands.evaluate --input /tmp/label_ordered.csv --in-process-rows 0     # in Spark

Normal rows: two Gaussian clusters in 6 dimensions; anomalies (0.5%): points
pushed 5.5 to 7 standard deviations out on two of the six features. All
anomalies come last in the file, as a label-sorted export leaves them.
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd


def label_ordered(rows: int, seed: int = 0, anomaly_share: float = 0.005) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    anomalies = int(rows * anomaly_share)
    normal = rows - anomalies
    centres = np.array([[-2.0] * 6, [2.0] * 6])
    X = centres[rng.integers(2, size=normal)] + rng.normal(0, 1, (normal, 6))
    A = rng.normal(0, 1, (anomalies, 6))
    for row in A:                                         
        row[rng.choice(6, 2, replace=False)] += rng.choice([-1, 1], 2) * rng.uniform(5.5, 7.0, 2)
    frame = pd.DataFrame(np.vstack([X, A]), columns=[f"x{i}" for i in range(6)])
    frame["label"] = np.r_[np.zeros(normal, dtype=int), np.ones(anomalies, dtype=int)]
    return frame


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=300_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    label_ordered(args.rows, args.seed).to_csv(args.out, index=False, float_format="%.6g")
    print(f"wrote {args.rows:,} rows to {args.out} (anomalies last)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
