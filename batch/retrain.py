"""The nightly retrain: a day of events -> hygiene -> isolation forest -> holdout gates -> MLflow.

    spark-submit batch/retrain.py --config conf/default.toml                    # the last complete UTC day
    spark-submit batch/retrain.py --config conf/default.toml --date 2026-11-21
    python -m batch.retrain --config conf/default.toml --all [--force]

`events` is read once, at a pinned Delta version (batch.window). The latest
`retrain.holdout_fraction` of the window by event time is held out; from the
rest, quarantined, analyst-labelled and flagged events are dropped
(batch.hygiene) and the forest is fitted. Its threshold is the best-F1 one on
the labelled pre-holdout events when there are enough labels (analyst verdicts,
truth files), else the contamination quantile (`retrain.threshold`). New model
and champion are scored on the holdout (batch.challenge); the version is registered with its metrics,
plots and tags; `champion` moves to it only if the gates pass (models.gates),
otherwise it becomes `challenger`. Moving the alias is the last step that
touches the model, so a run that fails before it leaves the champion as it
was. Table maintenance follows (batch.maintenance). A window that already has a
finished version is skipped; `--force` trains again and overrides the gates.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

if __package__ in (None, ""):  # run as a file by spark-submit: make the project importable
    import os

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lakehouse.cli import UsageError, command_parser, run_cli
from lakehouse.progress import Steps

# pyspark, mlflow and the pipeline's modules load inside the functions, after the arguments
# are parsed: `--help` and a bad argument answer in well under a second.
if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from batch.challenge import Comparison
    from batch.window import TrainingWindow
    from lakehouse.config import Config
    from models import gates
    from models.forest import IsolationForestModel
    from models.thresholds import Calibration

log = logging.getLogger("isoguard.retrain")
ISO_UTC = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"  # the session time zone is UTC


@dataclass(frozen=True)
class RetrainResult:
    version: str
    window: str
    events_version: int
    rows: int
    threshold: float | None
    threshold_source: str
    promoted: bool
    decision: str
    excluded: dict[str, int]
    skipped: bool = False

    def summary(self) -> str:
        if self.skipped:
            return (f"retrain {self.window}: version {self.version} already trained on this window; nothing to do "
                    f"(--force trains again)")
        from batch.hygiene import REASONS

        reasons = ", ".join(f"{r} {self.excluded[r]}" for r in REASONS)
        return (f"retrain {self.window} (events version {self.events_version}): {self.rows} training events, "
                f"excluded {self.excluded['total']} ({reasons}); version {self.version}, "
                f"threshold {self.threshold:.4f} ({self.threshold_source}); {self.decision}")


def fit(training: DataFrame, config: Config) -> IsolationForestModel:
    from models.forest import IsolationForest

    m = config.model
    return IsolationForest(inputCols=list(config.features), numTrees=m.num_trees, maxSamples=m.max_samples,
                           maxFeatures=m.max_features, extensionLevel=m.extension_level, contamination=m.contamination,
                           seed=m.seed).fit(training)


def calibrate(spark: SparkSession, model: IsolationForestModel, before: DataFrame, config: Config) -> Calibration:
    """The best-F1 threshold on the labelled pre-holdout events if `retrain.threshold` allows and labels suffice.

    Otherwise the contamination threshold that `fit` set. The holdout is never
    used: it has to judge the threshold, not choose it.
    """
    from pyspark.sql import functions as F

    from batch.challenge import labelled
    from batch.window_labels import LABEL
    from models.thresholds import Calibration, threshold_from_labels

    r = config.retrain
    if r.threshold == "contamination":
        return Calibration(model.threshold_, "contamination")
    rows = labelled(spark, config, before).filter(F.col(LABEL).isNotNull()).persist()
    try:
        counts = rows.agg(F.count(F.lit(1)).alias("n"), F.sum(LABEL).alias("anomalies")).first()
        n, anomalies = counts.n, int(counts.anomalies or 0)
        if min(anomalies, n - anomalies) < r.min_labelled_anomalies:
            if r.threshold == "labels":
                raise UsageError(f"retrain.threshold = \"labels\" needs {r.min_labelled_anomalies} labelled anomalies "
                                 f"and as many normal events before the holdout; the window has {anomalies} of "
                                 f"{n} labelled events")
            return Calibration(model.threshold_, "contamination", n, anomalies)
        threshold = threshold_from_labels(model.transform(rows), model.getScoreCol(), LABEL)
        return Calibration(threshold, "labels", n, anomalies)
    finally:
        rows.unpersist()


def clean_training(spark: SparkSession, config: Config, window: TrainingWindow, before: DataFrame):
    """The pre-holdout rows minus hygiene exclusions, and the exclusion counts per reason."""
    from batch import hygiene
    from batch.window import read_days
    from lakehouse.catalog import table_path

    read = lambda name: spark.read.format("delta").load(table_path(config, name))  # noqa: E731
    excluded = hygiene.exclusions(before, config, quarantine=read("quarantine"), labels=read("labels"),
                                  scores=read_days(spark, config, "scores", window.day),
                                  margin=config.retrain.exclude_score_margin)
    return hygiene.without(before, excluded, config), hygiene.count_by_reason(before, excluded, config)


RETRAIN_STEPS = ("read", "exclude", "fit", "calibrate", "evaluate", "register", "maintain")


def retrain(spark: SparkSession, config: Config, day: date | None, force: bool = False) -> RetrainResult:
    """Train on `day` (None: every event so far), gate, register, promote or keep as challenger, maintain."""
    from pyspark.sql import functions as F

    from batch import maintenance
    from batch.challenge import Comparison, labelled
    from batch.window import holdout_cutoff, read_window, split_at
    from features.engineering import build_features
    from models import gates, registry

    steps = Steps("retrain", RETRAIN_STEPS)  # progress on a terminal, silent otherwise
    frames = []
    try:
        steps.start("read")
        events, window = read_window(spark, config, day)
        if not force:
            done = registry.finished_version(config, window.label, None if day else window.events_version)
            if done:
                log.info("window %s already has version %s; skipping (--force trains again)", window.label, done)
                return RetrainResult(done, window.label, window.events_version, 0, None, "", False, "", {},
                                     skipped=True)
        features = build_features(events, config).persist()
        frames.append(features)
        if features.isEmpty():
            raise UsageError(f"no events to train on for {window.label}: let the stream run first")
        time_col = config.schema.event_time
        cutoff = holdout_cutoff(features, time_col, config.retrain.holdout_fraction)
        before, holdout = split_at(features, time_col, cutoff)
        steps.start("exclude")
        training, excluded = clean_training(spark, config, window, before)
        training = training.persist()
        holdout = labelled(spark, config, holdout).persist()
        frames += [training, holdout]
        span = training.agg(F.count(F.lit(1)).alias("rows"), F.date_format(F.min(time_col), ISO_UTC).alias("start"),
                            F.date_format(F.max(time_col), ISO_UTC).alias("end")).first()
        if span.rows < 2:
            raise UsageError(f"only {span.rows} events left to train on for {window.label} after the holdout and "
                             f"exclusions {excluded}")
        log.info("retrain %s: %d training events, excluded %s", window.label, span.rows, excluded)
        steps.start("fit")
        model = fit(training, config)
        steps.start("calibrate")
        calibration = calibrate(spark, model, before, config)
        model.threshold_ = calibration.threshold
        steps.start("evaluate")
        comparison = Comparison.run(model, training, holdout, config)
        decision = gates.decide(comparison.challenger, comparison.champion, config.retrain, force)
        steps.start("register")
        version = register(model, config, window, span, cutoff, excluded, comparison, decision, calibration)
        if decision.promote:
            registry.promote(config, version)
        else:
            registry.set_alias(config, version, registry.CHALLENGER)
        registry.tag_version(config, version, {registry.TAG_GATE_DECISION: decision.summary})
        log.warning("%s version %s (threshold %.4f, window %s): %s", config.model.name, version, model.threshold_,
                    window.label, decision.summary)
        steps.start("maintain")
        maintenance.maintain(spark, config, day, training, window.label, window.events_version)
        steps.finish()
    finally:
        steps.close()
        for frame in frames:
            frame.unpersist()
    return RetrainResult(version, window.label, window.events_version, span.rows, model.threshold_,
                         calibration.source, decision.promote, decision.summary, excluded)


def register(model, config: Config, window: TrainingWindow, span, cutoff: datetime, excluded: dict[str, int],
             comparison: Comparison, decision: gates.GateDecision, calibration: Calibration) -> str:
    """Log and register the new version with everything a reader needs to trust it."""
    from models import registry

    holdout_start = cutoff.isoformat()
    training = {"window": window.label, "events_version": window.events_version, "rows": span.rows,
                "sample_rows": model.sample_size_, "start": span.start, "end": span.end,
                "holdout_start": holdout_start, "excluded": excluded}
    metrics = {registry.METRIC_TRAINING_ROWS: span.rows, registry.METRIC_SAMPLE_ROWS: model.sample_size_,
               registry.METRIC_THRESHOLD_LABELLED_EVENTS: calibration.labelled,
               registry.METRIC_THRESHOLD_LABELLED_ANOMALIES: calibration.anomalies,
               **{registry.excluded_metric(reason): count for reason, count in excluded.items()}, **comparison.metrics()}
    params = {registry.PARAM_TRAINING_WINDOW: window.label, registry.PARAM_EVENTS_VERSION: window.events_version,
              **{f"retrain_{key}": value for key, value in asdict(config.retrain).items()}}
    tags = {registry.TAG_TRAINING_START: span.start, registry.TAG_TRAINING_END: span.end,
            registry.TAG_EVENTS_VERSION: window.events_version, registry.TAG_HOLDOUT_START: holdout_start,
            registry.TAG_THRESHOLD_SOURCE: calibration.describe()}
    return registry.register_model(model, config, training, metrics, params, tags,
                                   comparison.artifacts(decision, excluded))


def parse_args(argv: list[str]):
    parser = command_parser("batch.retrain", __doc__, "isoguard retrain --config conf/default.toml --date 2026-11-21\n"
                                                      "isoguard retrain --config conf/default.toml --all --force")
    parser.add_argument("--config", default="conf/default.toml", help="TOML config file")
    parser.add_argument("--master", default=None, help="Spark master (default local[*])")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--date", default=None,
                      help="train on this event date, YYYY-MM-DD (default: yesterday, the last complete UTC day)")
    when.add_argument("--all", action="store_true", help="train on every event so far")
    parser.add_argument("--force", action="store_true",
                        help="train even if this window already has a version, and promote it whatever the gates say")
    parser.add_argument("--verbose", action="store_true", help="Spark's INFO log too (default: warnings and errors)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from batch.window import last_complete_day
    from lakehouse.config import load_config

    config = load_config(args.config)
    day = None
    if not args.all:
        try:
            day = date.fromisoformat(args.date) if args.date else last_complete_day(datetime.now(timezone.utc))
        except ValueError:
            raise UsageError(f"--date: expected YYYY-MM-DD, got {args.date!r}") from None
    from lakehouse.catalog import ensure_tables
    from lakehouse.session import build_spark

    spark = build_spark("isoguard-retrain", master=args.master, verbose=args.verbose)
    ensure_tables(spark, config)
    print(retrain(spark, config, day, force=args.force).summary())
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
