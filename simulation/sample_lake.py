"""A small, complete lake to try the dashboard and the notebooks without Spark (their tests use it too).

    isoguard sample-lake --lake /tmp/isoguard-sample/lake
    ISOGUARD_LAKE=/tmp/isoguard-sample/lake isoguard dashboard

For the embedded default config (the simulated fleet of simulation.generate):
30 minutes of events around midnight (two event_date partitions), written with
the dashboard's delta-rs append (dashboard/delta.py) in the catalog schemas to
events, scores, stream_stats, quarantine, alerts, feature_summary and
baselines, the ground truth to truth/, and an MLflow store with three versions
of the model: v1 an older champion without holdout metrics, v2 the champion
promoted by the gate, v3 a challenger it rejected.
The first half of the events is scored by v1, the rest by v2, as after a live swap.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.cli import UsageError, command_parser, run_cli
from lakehouse.config import Config, load_config

# numpy, pandas, Spark's catalog, scikit-learn and mlflow load inside the functions that use them:
# `--help` and a bad argument answer in well under a second.
if TYPE_CHECKING:
    import pandas as pd
    from sklearn.ensemble import IsolationForest as SkIsolationForest

START = datetime(2026, 11, 20, 23, 50, tzinfo=timezone.utc)
MINUTES, DEVICES, EVENTS_PER_SECOND, BATCH_SECONDS = 30, 12, 3, 10
QUARANTINE_REASONS = ["malformed_json", "out_of_range", "missing_required", "malformed_json"]


@dataclass(frozen=True)
class SampleVersion:
    version: str
    forest: SkIsolationForest
    threshold: float


def fit_version(config: Config, features: pd.DataFrame, seed: int, training: dict, metrics: dict,
                tags: dict) -> SampleVersion:
    """Fit a small forest, register it with the project's registry code, tag it like the nightly job."""
    import numpy as np
    from sklearn.ensemble import IsolationForest as SkIsolationForest

    from features.engineering import feature_matrix
    from models import registry
    from models.forest import IsolationForestModel

    X = feature_matrix(features, config.features)
    forest = SkIsolationForest(n_estimators=50, max_samples=128, random_state=seed).fit(X)
    threshold = float(np.quantile(-forest.score_samples(X), 1 - config.model.contamination))
    model = IsolationForestModel(forest=forest, threshold=threshold)
    model.setInputCols(list(config.features))
    model._set(numTrees=50, maxSamples=128, contamination=config.model.contamination)
    version = registry.register_model(model, config, training, metrics)
    registry.tag_version(config, version, {registry.TAG_TRAINING_START: training["start"],
                                           registry.TAG_TRAINING_END: training["end"], **tags})
    return SampleVersion(version, forest, threshold)


def score(config: Config, events: pd.DataFrame, model: SampleVersion) -> pd.DataFrame:
    import numpy as np

    from features.engineering import feature_matrix
    from models.explain import ForestExplainer

    X = feature_matrix(events, config.features)
    scores = -model.forest.score_samples(X)
    flagged = scores >= model.threshold
    top = np.full(len(events), None, dtype=object)
    for i, names in zip(np.flatnonzero(flagged), ForestExplainer(model.forest, list(config.features)).top_features(X[flagged])):
        top[i] = names
    return events.assign(anomaly_score=scores, is_anomaly=flagged, top_features=top, threshold=model.threshold,
                         model_version=model.version)


def incidents(config: Config, scores: pd.DataFrame, now: datetime, gap: timedelta = timedelta(minutes=1)) -> pd.DataFrame:
    """Anomalies of one key no more than `gap` apart form one incident; open while its last one is recent."""
    import pandas as pd

    key, t = config.schema.key, config.schema.event_time
    rows = []
    for device, found in scores[scores.is_anomaly].sort_values(t).groupby(key):
        incident = (found[t].diff() > gap).cumsum()
        for _, part in found.groupby(incident):
            started, ended = part[t].iloc[0], part[t].iloc[-1]
            is_open = now - ended < 2 * gap
            top = pd.Series([f for feats in part.top_features for f in feats]).value_counts().index[:3].tolist()
            rows.append({"alert_id": f"{device}-{started:%Y%m%dT%H%M%S}", key: device, "started_at": started,
                         "ended_at": ended, "anomalies": len(part), "peak_score": part.anomaly_score.max(),
                         "top_features": top, "status": "open" if is_open else "closed",
                         "model_version": part.model_version.iloc[-1], "updated_at": now,
                         "closed_at": None if is_open else ended + 2 * gap})
    return pd.DataFrame(rows)


def feature_windows(config: Config, events: pd.DataFrame, written: datetime) -> pd.DataFrame:
    """1-minute windows per feature, over all keys (key null) and per key."""
    import pandas as pd

    key, t = config.schema.key, config.schema.event_time
    frame = events.assign(window_start=events[t].dt.floor("1min"))
    rows = []
    for per_key in (False, True):
        groups = frame.groupby(["window_start", key] if per_key else ["window_start"])
        for group, part in groups:
            start = group[0] if isinstance(group, tuple) else group
            for feature in config.features:
                v = part[feature].dropna()
                rows.append({"window_start": start, "window_end": start + timedelta(minutes=1), "feature": feature,
                             key: group[1] if per_key else None, "count": len(v), "mean": v.mean(), "std": v.std(),
                             "min": v.min(), "max": v.max(), "p50": v.quantile(0.5), "p95": v.quantile(0.95),
                             "p99": v.quantile(0.99), "written_at": written, "window_date": start.date()})
    return pd.DataFrame(rows)


def baselines(config: Config, events: pd.DataFrame, computed: datetime) -> pd.DataFrame:
    """Reference statistics per key and feature, as the nightly job keeps them."""
    import pandas as pd

    key = config.schema.key
    rows = []
    for device, part in events.groupby(key):
        for feature in config.features:
            v = part[feature].dropna()
            rows.append({key: device, "feature": feature, "count": len(v), "mean": v.mean(), "std": v.std(),
                         "p01": v.quantile(0.01), "p50": v.quantile(0.5), "p99": v.quantile(0.99),
                         "window": "2026-11-20", "events_version": 12, "computed_at": computed})
    return pd.DataFrame(rows)


def build(config: Config) -> dict:
    """Writes the sample lake and registry under config.lake_root; returns what it wrote (for tests)."""
    import pandas as pd

    from dashboard.delta import append_frame
    from models import registry
    from simulation.fleet import FleetSimulator

    s = config.schema
    sim = FleetSimulator(devices=DEVICES, seed=5, anomaly_rate=0.01, burst_probability=1.0,
                         drift_start=START.timestamp())
    count = MINUTES * 60 * EVENTS_PER_SECOND
    raw, truth = sim.generate(START.timestamp(), START.timestamp() + MINUTES * 60, count, first_seq=0)
    events = raw.assign(**{s.event_time: pd.to_datetime(raw[s.event_time], utc=True)})
    half = START + timedelta(minutes=MINUTES / 2)
    train = events[(truth.kind == "normal").to_numpy() & (events[s.event_time] < half).to_numpy()]
    window = {"window": "2026-11-19", "start": "2026-11-19T00:00:00+00:00", "end": "2026-11-19T23:59:59+00:00"}
    rows, holdout, decision = registry.METRIC_TRAINING_ROWS, registry.holdout_metric, registry.TAG_GATE_DECISION
    v1 = fit_version(config, train, 1, window, {rows: len(train)}, {decision: "promoted: first model"})
    v2 = fit_version(config, train, 2, {**window, "window": "2026-11-20", "start": "2026-11-20T00:00:00+00:00",
                                        "end": "2026-11-20T23:49:59+00:00"},
                     {rows: len(train), holdout("roc_auc"): 0.94, holdout("average_precision"): 0.61,
                      holdout("f1"): 0.58, holdout("alert_rate"): 0.011},
                     {registry.TAG_EVENTS_VERSION: "12", registry.TAG_PROMOTED_AT: half.isoformat(),
                      decision: "promoted: holdout_average_precision 0.61 >= champion 0.55"})
    v3 = fit_version(config, train, 3, {"window": "2026-11-21", "start": "2026-11-21T00:00:00+00:00",
                                        "end": "2026-11-21T00:14:59+00:00"},
                     {rows: len(train), holdout("roc_auc"): 0.90, holdout("average_precision"): 0.49,
                      holdout("f1"): 0.47, holdout("alert_rate"): 0.02},
                     {registry.TAG_EVENTS_VERSION: "13",
                      decision: "rejected: holdout_average_precision 0.49 < champion 0.61"})
    registry.set_alias(config, v2.version, registry.CHAMPION)
    registry.set_alias(config, v3.version, registry.CHALLENGER)

    ingested = events[s.event_time] + pd.to_timedelta(0.8, unit="s")
    scored = pd.concat([score(config, events[events[s.event_time] < half], v1),
                        score(config, events[events[s.event_time] >= half], v2)], ignore_index=True)
    scored = scored.assign(scored_at=ingested, event_date=scored[s.event_time].dt.date)
    stored = events.assign(ingested_at=ingested, source_file="sample.jsonl", event_date=events[s.event_time].dt.date)
    batch = ((events[s.event_time] - START).dt.total_seconds() // BATCH_SECONDS).astype(int)
    for chunk in range(0, MINUTES, 5):  # a few appends per table, as a stream leaves them
        part = (batch * BATCH_SECONDS // 60 // 5) == chunk // 5
        append_frame(config, "events", stored[part.to_numpy()])
        append_frame(config, "scores", scored[part.to_numpy()])

    bad_batches = [7, 31, 32, 95, 150, 170]
    quarantine = pd.DataFrame([{"raw": '{"event_id": "bad-%d", ' % i, "reason": QUARANTINE_REASONS[i % 4],
                                "detail": "sample", "source_file": "sample.jsonl", "batch_id": b,
                                "ingested_at": START + timedelta(seconds=b * BATCH_SECONDS + 5),
                                "ingest_date": (START + timedelta(seconds=b * BATCH_SECONDS + 5)).date(),
                                "raw_bytes": len('{"event_id": "bad-%d", ' % i)}
                               for i, b in enumerate(bad_batches)])
    append_frame(config, "quarantine", quarantine)

    stats = []
    for b in range(MINUTES * 60 // BATCH_SECONDS):
        mine = scored[(batch == b).to_numpy()]
        bad = int((quarantine.batch_id == b).sum())
        started = START + timedelta(seconds=b * BATCH_SECONDS + 1)
        version = v1 if started < half else v2
        stats.append({"batch_id": b, "started_at": started, "finished_at": started + timedelta(seconds=2),
                      "duration_ms": 2000, "rows_in": len(mine) + bad, "rows_valid": len(mine), "rows_quarantined": bad,
                      "rows_scored": len(mine), "anomalies": int(mine.is_anomaly.sum()),
                      "anomaly_rate": float(mine.is_anomaly.mean()), "input_rate": len(mine) / BATCH_SECONDS,
                      "processing_rate": len(mine) / 2.0, "bytes_in": 150 * len(mine),
                      "latency_p50_ms": 900.0 + b, "latency_p95_ms": 1500.0 + 2 * b, "latency_max_ms": 2500.0,
                      "model_version": version.version, "threshold": version.threshold, "model_status": None})
    append_frame(config, "stream_stats", pd.DataFrame(stats))
    end = START + timedelta(minutes=MINUTES)
    append_frame(config, "alerts", incidents(config, scored, end))
    append_frame(config, "feature_summary", feature_windows(config, events, end))
    append_frame(config, "baselines", baselines(config, train, half))
    truth_dir = Path(config.lake_path("truth"))
    truth_dir.mkdir(parents=True, exist_ok=True)
    truth.to_csv(truth_dir / "sample.csv", index=False)
    return {"events": len(events), "champion": v2.version, "challenger": v3.version, "versions": 3}


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("simulation.sample_lake", __doc__, "isoguard sample-lake --lake /tmp/isoguard-sample/lake")
    parser.add_argument("--config", default="conf/default.toml", help="TOML config file")
    parser.add_argument("--lake", required=True, help="an empty or new directory for the sample lake")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    config = load_config(args.config, environ={}).with_lake(args.lake)  # self-contained: its own MLflow store
    if Path(config.lake_root).exists() and any(Path(config.lake_root).iterdir()):
        raise UsageError(f"--lake {args.lake}: not empty; the sample goes into a new or empty directory")
    built = build(config)
    print(f"sample lake at {config.lake_root}: {built['events']} events, model versions 1-3 "
          f"(champion {built['champion']}); run: ISOGUARD_LAKE={config.lake_root} isoguard dashboard")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
