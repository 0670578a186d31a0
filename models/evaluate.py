"""Evaluate the isolation forest on any labelled file (CSV, Parquet or a Delta table).

    python -m models.evaluate --input ../shared/data/labeled/cardio.csv --label-col label [--json out.json]

Protocol (ADBench's): a 70/30 split stratified by label, the forest fitted on
the 70% (100 trees, 256 samples per tree unless told otherwise), scored on the
30%, for 3 seeds; reports the mean and per-seed ROC-AUC, PR-AUC (average
precision) and F1 at the threshold calibrated on the training labels (best F1).
Everything runs in Spark; only the per-seed metrics come back to the driver.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lakehouse.cli import UsageError, run_cli
from models.forest import IsolationForest
from models.thresholds import threshold_from_labels

TRAIN_SHARE = 0.7
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Evaluation:
    rows: int
    anomalies: int
    roc_auc: float
    pr_auc: float
    f1: float
    per_seed: list[dict]


def read_labelled(spark: SparkSession, path: str) -> DataFrame:
    p = Path(path)
    if (p / "_delta_log").is_dir():
        return spark.read.format("delta").load(path)
    if p.suffix == ".parquet" or p.is_dir():
        return spark.read.parquet(path)
    if p.suffix == ".csv":
        return spark.read.csv(path, header=True, inferSchema=True)
    raise UsageError(f"--input: {path} is not a .csv, .parquet or Delta table")


def stratified_split(frame: DataFrame, label_col: str, seed: int, share: float = TRAIN_SHARE):
    """(train, test): `share` of each label class in train, chosen at random with `seed`."""
    by_label = Window.partitionBy(label_col)
    ranked = (frame.withColumn("_r", F.rand(seed))
              .withColumn("_rank", F.row_number().over(by_label.orderBy("_r")))
              .withColumn("_n", F.count(F.lit(1)).over(by_label)))
    in_train = F.col("_rank") <= F.round(F.col("_n") * share)
    drop = ["_r", "_rank", "_n"]
    return ranked.filter(in_train).drop(*drop), ranked.filter(~in_train).drop(*drop)


def evaluate_once(frame: DataFrame, features: list[str], label_col: str, seed: int,
                  num_trees: int, max_samples: int) -> dict:
    train, test = (df.persist() for df in stratified_split(frame, label_col, seed))
    try:
        model = IsolationForest(inputCols=features, numTrees=num_trees, maxSamples=max_samples, seed=seed).fit(train)
        model.threshold_ = threshold_from_labels(model.transform(train), "anomaly_score", label_col)
        scored = model.transform(test).withColumn("_label", F.col(label_col).cast("double"))
        metric = BinaryClassificationEvaluator(rawPredictionCol="anomaly_score", labelCol="_label")
        roc = metric.setMetricName("areaUnderROC").evaluate(scored)
        pr = metric.setMetricName("areaUnderPR").evaluate(scored)
        row = scored.agg(F.sum((F.col("is_anomaly") & (F.col("_label") == 1)).cast("int")).alias("tp"),
                         F.sum(F.col("is_anomaly").cast("int")).alias("predicted"),
                         F.sum(F.col("_label")).alias("positives")).first()
        denominator = (row.predicted or 0) + (row.positives or 0)
        f1 = 2 * (row.tp or 0) / denominator if denominator else 0.0
        return {"seed": seed, "roc_auc": roc, "pr_auc": pr, "f1": f1, "threshold": model.threshold_}
    finally:
        train.unpersist()
        test.unpersist()


def evaluate(frame: DataFrame, label_col: str, seeds=SEEDS, num_trees: int = 100, max_samples: int = 256) -> Evaluation:
    if label_col not in frame.columns:
        raise UsageError(f"--label-col: {label_col!r} is not a column ({', '.join(frame.columns)})")
    numeric = {"double", "float", "int", "bigint", "smallint", "tinyint"}
    features = [c for c, t in frame.dtypes if c != label_col and t in numeric]
    if not features:
        raise UsageError("the input has no numeric feature columns")
    frame = frame.select(*[F.col(c).cast("double") for c in features], F.col(label_col)).persist()
    try:
        counts = frame.agg(F.count(F.lit(1)).alias("n"), F.sum(F.col(label_col).cast("int")).alias("a")).first()
        runs = [evaluate_once(frame, features, label_col, s, num_trees, max_samples) for s in seeds]
    finally:
        frame.unpersist()
    mean = lambda key: sum(r[key] for r in runs) / len(runs)  # noqa: E731
    return Evaluation(rows=counts.n, anomalies=int(counts.a or 0), roc_auc=mean("roc_auc"), pr_auc=mean("pr_auc"),
                      f1=mean("f1"), per_seed=runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="models.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="CSV, Parquet or Delta table with features and a label")
    parser.add_argument("--label-col", default="label", help="1 = anomaly, 0 = normal")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--max-samples", type=int, default=256)
    parser.add_argument("--master", default=None)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not Path(args.input).exists():
        raise UsageError(f"--input: no such file or table {args.input}")
    from lakehouse.session import build_spark

    spark = build_spark("isoguard-evaluate", master=args.master)
    result = evaluate(read_labelled(spark, args.input), args.label_col, num_trees=args.trees,
                      max_samples=args.max_samples)
    print(f"{Path(args.input).name}: {result.rows} rows, {result.anomalies} anomalies; "
          f"mean of {len(result.per_seed)} seeds: ROC-AUC {result.roc_auc:.3f}, PR-AUC {result.pr_auc:.3f}, "
          f"F1 {result.f1:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(result), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
