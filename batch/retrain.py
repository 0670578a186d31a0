"""The nightly retrain: events of a day -> features -> isolation forest -> MLflow champion.

    spark-submit batch/retrain.py --config conf/default.toml --date 2026-11-21
    python -m batch.retrain --config conf/default.toml --all
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

if __package__ in (None, ""):  # run as a file by spark-submit: make the project importable
    import os

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from features.engineering import build_features
from lakehouse.catalog import ensure_tables, table_path
from lakehouse.cli import UsageError, run_cli
from lakehouse.config import Config, load_config
from lakehouse.session import build_spark
from models import registry
from models.forest import IsolationForest

log = logging.getLogger("isoguard.retrain")


@dataclass(frozen=True)
class RetrainResult:
    version: str
    rows: int
    threshold: float
    promoted: bool


def training_events(spark: SparkSession, config: Config, day: date | None) -> tuple[DataFrame, str]:
    """The events of one day (None = everything so far) and a label for the window."""
    events = spark.read.format("delta").load(table_path(config, "events"))
    if day is None:
        return events, "all"
    return events.filter(F.col("event_date") == F.lit(day)), day.isoformat()


def retrain(spark: SparkSession, config: Config, day: date | None) -> RetrainResult:
    """Fit, calibrate, register; point `champion` at the new version."""
    events, window = training_events(spark, config, day)
    features = build_features(events, config).persist()
    try:
        rows = features.count()
        if rows < 2:
            raise UsageError(f"no events to train on for {window}: let the stream run first")
        estimator = IsolationForest(
            inputCols=list(config.features), numTrees=config.model.num_trees, maxSamples=config.model.max_samples,
            contamination=config.model.contamination, seed=config.model.seed,
        )
        model = estimator.fit(features)
        bounds = features.agg(F.min(config.schema.event_time).alias("start"),
                              F.max(config.schema.event_time).alias("end")).first()
    finally:
        features.unpersist()
    training = {"window": window, "rows": rows, "sample_rows": model.sample_size_,
                "start": str(bounds.start), "end": str(bounds.end)}
    version = registry.register_model(model, config, training,
                                      metrics={"training_rows": rows, "sample_rows": model.sample_size_})
    registry.set_alias(config, version, registry.CHAMPION)
    log.warning("registered %s version %s (threshold %.4f, %d rows, window %s) and made it champion",
                config.model.name, version, model.threshold_, rows, window)
    return RetrainResult(version=version, rows=rows, threshold=model.threshold_, promoted=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="batch.retrain", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="conf/default.toml")
    parser.add_argument("--master", default=None, help="Spark master (default local[*])")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--date", default=None, help="train on this event date, YYYY-MM-DD (default: yesterday, UTC)")
    when.add_argument("--all", action="store_true", help="train on every event so far")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = load_config(args.config)
    day = None
    if not args.all:
        try:
            day = date.fromisoformat(args.date) if args.date else datetime.now(timezone.utc).date() - timedelta(days=1)
        except ValueError:
            raise UsageError(f"--date: expected YYYY-MM-DD, got {args.date!r}") from None
    spark = build_spark("isoguard-retrain", master=args.master)
    ensure_tables(spark, config)
    result = retrain(spark, config, day)
    print(f"retrain: version {result.version} on {result.rows} events, threshold {result.threshold:.4f}, champion")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
