"""Evaluate the per-key series detector on labelled series by the Numenta Anomaly Benchmark's rules.

    isoguard evaluate-series --data ../shared/data/series [--json out.json] [--set tree_size=128]

Each file is one key: its rows go, in timestamp order and `--batch-rows` at a
time, through `SeriesDetector.update` (state bytes in, scores and state bytes
out), the very function the stream's keyed state calls; a new state per file
(one model per series, nothing shared, nothing tuned per file). The detector
scores each row before learning it, so the batch size changes nothing.

Scoring follows NAB's published rules (standard profile: true positive weight
1, false positive 0.11, false negative 1), written from its description:

- the first min(15% of the rows, 750) rows are probationary: not counted;
- inside an anomaly window of width w (rows, right edge r), a detection at row
  i is worth sigma(-(r - i + 1) / w) / sigma(-1), where
  sigma(y) = 2 / (1 + e^(5y)) - 1 is NAB's scaled sigmoid, so the earliest
  detection scores about 1 and one at the right edge about 0; only a window's
  best (earliest) detection counts; a window without one costs -1;
- a detection outside every window costs 0.11 x sigma(y), y = its distance
  past the previous window's right edge over that window's width - 1 (3, a
  full -0.11, before any window): alarms just after a window cost little;
- the normalised score is 100 (raw - null) / (perfect - null), summed over
  files: `null` is the detector that never alarms (-1 per window), `perfect`
  one early detection per window (+1 per window); a file without windows has
  no normalised score of its own but its false positives count in the total;
- one threshold for all files: by default the one that maximises the total raw
  score (what NAB's optimiser searches for), found exactly over every distinct
  score; `--threshold` fixes it instead.

Per file and overall it reports the windows caught, the detection delay inside
each window (rows and time after the window opened), false positives per 1,000
scored rows, and the raw and normalised scores; for the ensemble and for each
detector alone (each at its own best threshold).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from lakehouse.cli import UsageError, command_parser, run_cli

# pandas and the detectors (numba) load once the arguments are parsed: --help answers at once.
if TYPE_CHECKING:
    import pandas as pd

    from models.series.detector import SeriesDetector

PROBATION_SHARE = 0.15
PROBATION_CAP = 750  # NAB: min(15% of the rows, 15% of 5,000)
STANDARD_PROFILE = {"tp": 1.0, "fp": 0.11, "fn": 1.0}
FAR_PAST_WINDOW = 3.0  # NAB's relative position of an alarm with no window before it


def scaled_sigmoid(position: np.ndarray) -> np.ndarray:
    """NAB's reward curve: 2 / (1 + e^(5 y)) - 1, and -1 from y = 3 on."""
    position = np.asarray(position, dtype=float)
    return np.where(position >= FAR_PAST_WINDOW, -1.0, 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0)


def probation_rows(n: int) -> int:
    return int(min(math.floor(PROBATION_SHARE * n), PROBATION_SHARE * 5000))


@dataclass
class FileScore:
    """One file's result at one threshold."""

    file: str
    rows: int
    windows: int
    caught: int
    delays_rows: list
    delays_minutes: list
    false_positives: int
    fp_per_1000: float
    raw: float
    null: float
    perfect: float

    @property
    def normalised(self) -> float:
        return math.nan if self.perfect == self.null else 100 * (self.raw - self.null) / (self.perfect - self.null)


class NabFile:
    """One file's NAB weights: per scored row its weight if it alarms, and which window it is in."""

    def __init__(self, name: str, timestamps: pd.Series, windows: list, profile: dict = STANDARD_PROFILE):
        import pandas as pd

        self.name, self.timestamps, self.profile = name, pd.to_datetime(timestamps).reset_index(drop=True), profile
        n = len(self.timestamps)
        self.start = probation_rows(n)
        self.window_of = np.full(n, -1)
        weight = np.zeros(n)
        bounds = []
        for k, (left, right) in enumerate(windows):
            lo = int(np.searchsorted(self.timestamps, pd.Timestamp(left)))
            hi = int(np.searchsorted(self.timestamps, pd.Timestamp(right), side="right")) - 1
            bounds.append((lo, hi))
            self.window_of[lo:hi + 1] = k
            width = hi - lo + 1
            i = np.arange(lo, hi + 1)
            weight[lo:hi + 1] = scaled_sigmoid(-(hi - i + 1) / width) * profile["tp"] / scaled_sigmoid(-1.0)
        previous = None
        for i in range(n):
            k = self.window_of[i]
            if k >= 0:
                previous = bounds[k]
                continue
            if previous is None:
                position = FAR_PAST_WINDOW
            else:
                lo, hi = previous
                position = abs(hi - i) / max(hi - lo, 1)
            weight[i] = scaled_sigmoid(position) * profile["fp"]
        self.bounds, self.weight = bounds, weight
        # windows that end inside the probation period are not scored (NAB drops their rows)
        self.scored_windows = [k for k, (lo, hi) in enumerate(bounds) if hi >= self.start]

    def score(self, scores: np.ndarray, threshold: float) -> FileScore:
        import pandas as pd

        alarm = np.asarray(scores) >= threshold
        alarm[: self.start] = False
        outside = alarm & (self.window_of < 0)
        raw, caught, delays, minutes = float(self.weight[outside].sum()), 0, [], []
        for k in self.scored_windows:
            lo, hi = self.bounds[k]
            hits = np.flatnonzero(alarm[max(lo, self.start):hi + 1]) + max(lo, self.start)
            if len(hits):
                caught += 1
                raw += float(self.weight[hits[0]])
                delays.append(int(hits[0] - lo))
                minutes.append(float((self.timestamps[hits[0]] - self.timestamps[lo]) / pd.Timedelta(minutes=1)))
            else:
                raw -= self.profile["fn"]
        scored = len(alarm) - self.start
        windows = len(self.scored_windows)
        return FileScore(self.name, len(alarm), windows, caught, delays, minutes, int(outside.sum()),
                         1000 * int(outside.sum()) / max(scored, 1), raw, -self.profile["fn"] * windows,
                         self.profile["tp"] * windows)

    def raw_by_threshold(self, scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
        """The raw score at each threshold (descending or not), in one pass over the sorted scores."""
        scores = np.asarray(scores, dtype=float)
        idx = np.arange(self.start, len(scores))
        out = np.zeros(len(thresholds))
        fp = idx[self.window_of[idx] < 0]
        s_fp = scores[fp]
        order = np.argsort(-s_fp)
        csum = np.concatenate([[0.0], np.cumsum(self.weight[fp][order])])
        out += csum[np.searchsorted(-s_fp[order], -np.asarray(thresholds), side="right")]
        for k in self.scored_windows:
            lo, hi = self.bounds[k]
            rows = np.arange(max(lo, self.start), hi + 1)
            s_w = scores[rows]
            order = np.argsort(-s_w, kind="stable")
            best = np.concatenate([[-self.profile["fn"]], np.maximum.accumulate(self.weight[rows][order])])
            out += best[np.searchsorted(-s_w[order], -np.asarray(thresholds), side="right")]
        return out


def best_threshold(files: list[NabFile], scores: list[np.ndarray]) -> float:
    """The single threshold that maximises the total raw NAB score over all files (the largest one on ties)."""
    candidates = np.unique(np.concatenate([s[f.start:] for f, s in zip(files, scores)] + [[1.1]]))[::-1]
    total = sum(f.raw_by_threshold(s, candidates) for f, s in zip(files, scores))
    return float(candidates[int(np.argmax(total))])


def score_series(detector: SeriesDetector, frame: pd.DataFrame, batch_rows: int) -> pd.DataFrame:
    import pandas as pd

    """One file through the per-key path, in order, `batch_rows` rows per call; the scores in row order."""
    blob, parts = None, []
    for start in range(0, len(frame), batch_rows):
        batch = frame.iloc[start:start + batch_rows].assign(row=np.arange(start, min(start + batch_rows, len(frame))))
        scored, blob = detector.update(blob, batch, time_col="timestamp", value_col="value", order_col="row")
        parts.append(scored)
    return pd.concat(parts, ignore_index=True).sort_values("row").reset_index(drop=True)


def _summary(results: list[FileScore], threshold: float) -> dict:
    windows = sum(r.windows for r in results)
    raw, null, perfect = (sum(getattr(r, a) for r in results) for a in ("raw", "null", "perfect"))
    delays = [d for r in results for d in r.delays_rows]
    fps = sum(r.false_positives for r in results)
    scored = sum(r.rows - probation_rows(r.rows) for r in results)
    return {"threshold": threshold, "windows": windows, "caught": sum(r.caught for r in results),
            "median_delay_rows": float(np.median(delays)) if delays else None,
            "false_positives": fps, "fp_per_1000": 1000 * fps / max(scored, 1), "raw": raw,
            "normalised": 100 * (raw - null) / (perfect - null) if perfect != null else math.nan}


def _parse_setting(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    if not _:
        raise argparse.ArgumentTypeError(f"wants key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("commands.evaluate_series", __doc__,
                            "isoguard evaluate-series --data ../shared/data/series --json series.json")
    parser.add_argument("--data", required=True, type=Path, help="folder of NAB-style CSVs (timestamp,value)")
    parser.add_argument("--windows", type=Path, help="windows.json (default: DATA/windows.json)")
    parser.add_argument("--batch-rows", type=int, default=12, help="rows per per-key update call (default 12)")
    parser.add_argument("--threshold", type=float, help="fixed alarm threshold (default: NAB's best single one)")
    parser.add_argument("--max-rows", type=int, help="use only each file's first rows (quick runs)")
    parser.add_argument("--files", nargs="*", help="only these files (paths relative to DATA)")
    parser.add_argument("--set", action="append", default=[], type=_parse_setting, metavar="KEY=VALUE",
                        help="a detector setting (SeriesDetector's argument names), repeatable")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    import pandas as pd

    from models.series.detector import SeriesDetector

    try:
        detector = SeriesDetector.from_config(dict(args.set))
        windows = json.loads((args.windows or args.data / "windows.json").read_text())
    except (ValueError, TypeError, OSError) as exc:
        raise UsageError(str(exc)) from None
    names = args.files or sorted(windows)
    files, scored, took = [], [], 0.0
    for name in names:
        frame = pd.read_csv(args.data / name, parse_dates=["timestamp"])
        if args.max_rows:
            frame = frame.iloc[: args.max_rows]
        t0 = time.perf_counter()
        scored.append(score_series(detector, frame, args.batch_rows))
        took += time.perf_counter() - t0
        files.append(NabFile(name, frame["timestamp"], windows.get(name, [])))
    columns = ["score"] + [f"score_{d}" for d in detector.detectors]
    report = {"rows": int(sum(len(s) for s in scored)), "seconds": round(took, 1), "detectors": {}}
    for column in columns:
        values = [s[column].to_numpy() for s in scored]
        threshold = args.threshold if args.threshold is not None else best_threshold(files, values)
        results = [f.score(v, threshold) for f, v in zip(files, values)]
        report["detectors"][column] = {"overall": _summary(results, threshold),
                                       "files": [asdict(r) | {"normalised": r.normalised} for r in results]}
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(_finite(report), indent=1))
    return 0


def _finite(value):
    """The report with NaN (a file without windows has no normalised score) as null, so the JSON is strict."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def render(report: dict) -> str:
    """The report as Markdown tables: the ensemble per file, then every detector overall."""
    ensemble = report["detectors"]["score"]
    lines = [f"ensemble at threshold {ensemble['overall']['threshold']:.6f}", "",
             "| file | windows caught | delay in window (rows; minutes) | FP | FP per 1,000 | raw | normalised |",
             "|---|---|---|---|---|---|---|"]
    for r in ensemble["files"]:
        delay = "; ".join(f"{d} ({m:.0f} min)" for d, m in zip(r["delays_rows"], r["delays_minutes"])) or "-"
        norm = "-" if math.isnan(r["normalised"]) else f"{r['normalised']:.1f}"
        lines.append(f"| {r['file']} | {r['caught']}/{r['windows']} | {delay} | {r['false_positives']} | "
                     f"{r['fp_per_1000']:.2f} | {r['raw']:.3f} | {norm} |")
    lines += ["", "| detector | threshold | windows caught | median delay (rows) | FP | FP per 1,000 | "
              "normalised NAB score |", "|---|---|---|---|---|---|---|"]
    for name, result in report["detectors"].items():
        o = result["overall"]
        delay = "-" if o["median_delay_rows"] is None else f"{o['median_delay_rows']:.0f}"
        lines.append(f"| {'ensemble' if name == 'score' else name.removeprefix('score_')} | {o['threshold']:.6f} | "
                     f"{o['caught']}/{o['windows']} | {delay} | {o['false_positives']} | {o['fp_per_1000']:.2f} | "
                     f"{o['normalised']:.1f} |")
    lines.append(f"\n{report['rows']} rows scored in {report['seconds']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(run_cli(main))
