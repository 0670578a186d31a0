"""Evaluate the isolation forest on labelled files (CSV, Parquet or a Delta table).

    isoguard evaluate --input ../shared/data/labeled/*.csv --label-col label [--baseline] [--json out.json]

Protocol (ADBench's): a 70/30 split stratified by label, the forest fitted on
the 70% and scored on the 30%, for 3 seeds; reported per set: the mean and
per-seed ROC-AUC, average precision (scikit-learn's definition, the area under
the precision-recall curve that ADBench and the literature report) and F1 at
the threshold with the best F1 on the training labels, and the time taken.
The forest's settings default to the `[model]` section's defaults.

Two paths, one result. An input of at most `--in-process-rows` rows (default
200,000) is read with pandas and evaluated in this process with numpy, with no
Spark to start (the fixed cost of a Spark session is about a minute of CPU,
against a second or two for a small set); a larger input runs in Spark and never
leaves it but for per-distinct-score counts. Both paths number the rows in the
order they read them and draw the split and the training sample from the keys
xxhash64(row, seed) (models.sampling), fit the same forest code
(models.forest.fit_forest) and compute the same exact metrics from the same
counts (models.metrics): the scores, and so the metrics, are identical on both
(a test checks it on a CSV file, which both read in file order, also when Spark
splits it into several partitions).

`--baseline` adds scikit-learn's IsolationForest with ADBench's settings (fitted
on the whole 70%, 100 trees, 256 samples per tree) on the same splits, side by
side (in-process inputs only).
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lakehouse.cli import UsageError, command_parser, run_cli
from lakehouse.config import ModelConfig
from lakehouse.progress import Steps

if TYPE_CHECKING:
    import pandas as pd  # loaded by read_pandas, after the arguments are parsed: `--help` stays fast

TRAIN_SHARE = 0.7
SEEDS = tuple(range(10))  # ADBench uses 3; with 3 the gap between two forests on one set is within seed noise
SPLIT_SALT = 7919          # the split's keys use seed + SPLIT_SALT, the training sample's the seed itself
IN_PROCESS_ROWS = 200_000
ROW = "_isoguard_row"
NUMERIC = {"double", "float", "int", "bigint", "smallint", "tinyint", "float64", "float32", "int64", "int32",
           "int16", "int8", "uint8", "uint16", "uint32", "bool"}


@dataclass(frozen=True)
class ForestSettings:
    """The forest the evaluation fits: the `[model]` section's defaults unless told otherwise."""

    num_trees: int = ModelConfig.num_trees
    max_samples: int = ModelConfig.max_samples
    max_features: float = ModelConfig.max_features
    extension_level: int = ModelConfig.extension_level


BASELINE = ForestSettings(num_trees=100, max_samples=256, max_features=1.0, extension_level=0)


@dataclass(frozen=True)
class Evaluation:
    name: str
    rows: int
    anomalies: int
    roc_auc: float
    average_precision: float
    f1: float
    seconds: float
    path: str                       # "in process" or "spark"
    per_seed: list[dict]
    baseline: dict | None = field(default=None)  # scikit-learn's means on the same splits (--baseline)


def split_positions(rows: np.ndarray, labels: np.ndarray, seed: int, share: float = TRAIN_SHARE) -> np.ndarray:
    """numpy twin of `stratified_split`: True for the rows in train."""
    from models.sampling import row_keys

    keys = row_keys(rows, seed + SPLIT_SALT)
    in_train = np.zeros(len(rows), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        order = members[np.lexsort((rows[members], keys[members]))]
        in_train[order[: int(np.floor(len(members) * share + 0.5))]] = True
    return in_train


def stratified_split(frame, label_col: str, seed: int, share: float = TRAIN_SHARE):
    """(train, test) in Spark: per label class, the `share` of rows with the smallest keys goes to train."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from models.sampling import row_key

    by_label = Window.partitionBy(label_col)
    ranked = (frame.withColumn("_k", row_key(F.col(ROW), seed + SPLIT_SALT))
              .withColumn("_rank", F.row_number().over(by_label.orderBy("_k", ROW)))
              .withColumn("_n", F.count(F.lit(1)).over(by_label)))
    in_train = F.col("_rank") <= F.floor(F.col("_n") * share + 0.5)
    drop = ["_k", "_rank", "_n"]
    return ranked.filter(in_train).drop(*drop), ranked.filter(~in_train).drop(*drop)


def _seed_result(seed: int, train_counts, test_counts, started: float) -> dict:
    from models.metrics import best_f1_threshold, f1_at, from_counts

    threshold = best_f1_threshold(train_counts)
    ranking = from_counts(test_counts)
    return {"seed": seed, "roc_auc": ranking.roc_auc, "average_precision": ranking.average_precision,
            "f1": f1_at(test_counts, threshold), "threshold": threshold, "seconds": time.time() - started}


def scores_in_process(X: np.ndarray, labels: np.ndarray, seed: int, settings: ForestSettings):
    """(train mask, train scores, test scores) for one seed, in numpy."""
    from models.forest import fit_forest
    from models.sampling import sample_positions

    rows = np.arange(len(X), dtype=np.int64)
    in_train = split_positions(rows, labels, seed)
    train_rows = np.flatnonzero(in_train)
    sample = train_rows[sample_positions(rows[train_rows], settings.num_trees * settings.max_samples, seed)]
    forest = fit_forest(X[sample], settings.num_trees, settings.max_samples, settings.max_features,
                        settings.extension_level, seed)
    return in_train, -forest.score_samples(X[in_train]), -forest.score_samples(X[~in_train])


def evaluate_in_process(frame: pd.DataFrame, label_col: str, features: list[str], settings: ForestSettings,
                        seeds=SEEDS, baseline: bool = False) -> tuple[list[dict], dict | None]:
    from sklearn.ensemble import IsolationForest as SkIsolationForest

    from models.metrics import count_scores_numpy

    X, labels = frame[features].to_numpy(dtype="float64"), frame[label_col].to_numpy().astype(int)
    runs, reference = [], []
    for seed in seeds:
        started = time.time()
        in_train, train_scores, test_scores = scores_in_process(X, labels, seed, settings)
        runs.append(_seed_result(seed, count_scores_numpy(train_scores, labels[in_train]),
                                 count_scores_numpy(test_scores, labels[~in_train]), started))
        if baseline:
            started = time.time()
            forest = SkIsolationForest(n_estimators=BASELINE.num_trees, max_samples=BASELINE.max_samples,
                                       random_state=seed).fit(X[in_train])
            reference.append(_seed_result(seed, count_scores_numpy(-forest.score_samples(X[in_train]), labels[in_train]),
                                          count_scores_numpy(-forest.score_samples(X[~in_train]), labels[~in_train]),
                                          started))
    return runs, (_means(reference) if baseline else None)


def spark_test_scores(frame, label_col: str, features: list[str], seed: int, settings: ForestSettings):
    """(train counts, scored test frame) for one seed in Spark; `frame` carries the row numbers in ROW."""
    from pyspark.sql import functions as F

    from models.forest import IsolationForest
    from models.metrics import count_scores

    train, test = (df.persist() for df in stratified_split(frame, label_col, seed))
    model = IsolationForest(inputCols=features, numTrees=settings.num_trees, maxSamples=settings.max_samples,
                            maxFeatures=settings.max_features, extensionLevel=settings.extension_level,
                            rowIdCol=ROW, seed=seed).fit(train)
    model.threshold_ = None  # scores only: the evaluation calibrates on the labels
    train_counts = count_scores(model.transform(train), "anomaly_score", label_col)
    scored = model.transform(test).select(ROW, "anomaly_score", F.col(label_col))
    return train, test, train_counts, scored


def evaluate_spark(frame, label_col: str, features: list[str], settings: ForestSettings, seeds=SEEDS) -> list[dict]:
    from models.metrics import count_scores

    runs = []
    for seed in seeds:
        started = time.time()
        train, test, train_counts, scored = spark_test_scores(frame, label_col, features, seed, settings)
        try:
            runs.append(_seed_result(seed, train_counts, count_scores(scored, "anomaly_score", label_col), started))
        finally:
            train.unpersist()
            test.unpersist()
    return runs


def _means(runs: list[dict]) -> dict:
    return {key: sum(r[key] for r in runs) / len(runs) for key in ("roc_auc", "average_precision", "f1")}


def numeric_features(columns: dict[str, str], label_col: str) -> list[str]:
    """The numeric columns other than the label, from {name: type}."""
    if label_col not in columns:
        raise UsageError(f"--label-col: {label_col!r} is not a column ({', '.join(c for c in columns if c != ROW)})")
    features = [c for c, t in columns.items() if c not in (label_col, ROW) and t in NUMERIC]
    if not features:
        raise UsageError("the input has no numeric feature columns")
    return features


def count_rows(path: str) -> int:
    """Rows in a CSV file (lines after the header), a Parquet file or directory, or a Delta table, without reading them."""
    p = Path(path)
    if (p / "_delta_log").is_dir():
        from deltalake import DeltaTable

        return int(sum(DeltaTable(path).get_add_actions(flatten=True).column("num_records").to_pylist()))
    if p.suffix == ".csv":
        with open(p, "rb") as fh:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        with open(p, "rb") as fh:
            fh.seek(max(p.stat().st_size - 1, 0))
            unterminated = p.stat().st_size > 0 and fh.read(1) != b"\n"
        return max(lines + unterminated - 1, 0)
    if p.suffix == ".parquet" or p.is_dir():
        import pyarrow.dataset as ds

        return ds.dataset(path, format="parquet").count_rows()
    raise UsageError(f"--input: {path} is not a .csv, .parquet or Delta table")


def read_pandas(path: str) -> pd.DataFrame:
    import pandas as pd

    p = Path(path)
    if (p / "_delta_log").is_dir():
        from deltalake import DeltaTable

        return DeltaTable(path).to_pandas()
    if p.suffix == ".csv":
        return pd.read_csv(path, float_precision="round_trip")  # correctly rounded, as Spark's parser
    return pd.read_parquet(path)


def read_labelled(spark, path: str):
    """A labelled file as a Spark frame with the rows numbered (ROW) 0, 1, ... in the order Spark reads them."""
    from models.sampling import number_rows

    p = Path(path)
    if (p / "_delta_log").is_dir():
        frame = spark.read.format("delta").load(path)
    elif p.suffix == ".parquet" or p.is_dir():
        frame = spark.read.parquet(path)
    elif p.suffix == ".csv":
        frame = spark.read.csv(path, header=True, inferSchema=True)
    else:
        raise UsageError(f"--input: {path} is not a .csv, .parquet or Delta table")
    return number_rows(frame, ROW)


def evaluate_file(path: str, label_col: str = "label", settings: ForestSettings = ForestSettings(), seeds=SEEDS,
                  in_process_rows: int = IN_PROCESS_ROWS, baseline: bool = False, spark_factory=None) -> Evaluation:
    """Evaluate one labelled file, in process when it has at most `in_process_rows` rows, else in Spark."""
    started = time.time()
    if count_rows(path) <= in_process_rows:
        frame = read_pandas(path)
        features = numeric_features({c: str(t) for c, t in frame.dtypes.items()}, label_col)
        runs, reference = evaluate_in_process(frame, label_col, features, settings, seeds, baseline)
        rows, anomalies, where = len(frame), int((frame[label_col] == 1).sum()), "in process"
    else:
        from pyspark.sql import functions as F

        spark = spark_factory()
        frame = read_labelled(spark, path)
        features = numeric_features(dict(frame.dtypes), label_col)
        frame = frame.select(*[F.col(c).cast("double") for c in features], F.col(label_col), ROW).persist()
        try:
            counts = frame.agg(F.count(F.lit(1)).alias("n"),
                               F.sum((F.col(label_col) == 1).cast("int")).alias("a")).first()
            runs = evaluate_spark(frame, label_col, features, settings, seeds)
        finally:
            frame.unpersist()
        rows, anomalies, where, reference = counts.n, int(counts.a or 0), "spark", None
    means = _means(runs)
    return Evaluation(name=Path(path).name, rows=rows, anomalies=anomalies, seconds=time.time() - started,
                      path=where, per_seed=runs, baseline=reference, **means)


def report_line(result: Evaluation) -> str:
    line = (f"{result.name}: {result.rows} rows, {result.anomalies} anomalies; mean of {len(result.per_seed)} seeds: "
            f"ROC-AUC {result.roc_auc:.3f}, average precision {result.average_precision:.3f}, F1 {result.f1:.3f} "
            f"({result.seconds:.1f} s, {result.path})")
    if result.baseline:
        b = result.baseline
        line += (f"; scikit-learn: ROC-AUC {b['roc_auc']:.3f}, average precision {b['average_precision']:.3f}, "
                 f"F1 {b['f1']:.3f}")
    return line


def main(argv: list[str] | None = None) -> int:
    defaults = ForestSettings()
    parser = command_parser("commands.evaluate", __doc__, "isoguard evaluate --input data/*.csv --label-col label --baseline")
    parser.add_argument("--input", required=True, nargs="+", help="CSV, Parquet or Delta tables with features and a label")
    parser.add_argument("--label-col", default="label", help="1 = anomaly, 0 = normal")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--trees", type=int, default=defaults.num_trees)
    parser.add_argument("--max-samples", type=int, default=defaults.max_samples)
    parser.add_argument("--extension-level", type=int, default=defaults.extension_level,
                        help="features per cut minus one (0 = axis-parallel)")
    parser.add_argument("--in-process-rows", type=int, default=IN_PROCESS_ROWS,
                        help="inputs with at most this many rows run without Spark (0 = always Spark)")
    parser.add_argument("--baseline", action="store_true", help="also scikit-learn's IsolationForest, side by side")
    parser.add_argument("--master", default=None, help="Spark master for inputs that run in Spark")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    for path in args.input:
        if not Path(path).exists():
            raise UsageError(f"--input: no such file or table {path}")
    if args.trees <= 0 or args.max_samples <= 0 or args.extension_level < 0:
        raise UsageError("--trees and --max-samples must be > 0, --extension-level >= 0")
    settings = ForestSettings(num_trees=args.trees, max_samples=args.max_samples,
                              extension_level=args.extension_level)
    session = []

    def spark_factory():
        if not session:
            from lakehouse.session import build_spark

            session.append(build_spark("isoguard-evaluate", master=args.master))
        return session[0]

    results = []
    with Steps("evaluate", len(args.input) * len(SEEDS)) as progress:  # one unit per set and seed
        for path in args.input:
            seeds = progress.each(SEEDS, lambda seed, name=Path(path).name: f"{name}, seed {seed}")
            try:
                result = evaluate_file(path, args.label_col, settings, seeds=seeds,
                                       in_process_rows=args.in_process_rows, baseline=args.baseline,
                                       spark_factory=spark_factory)
            except UsageError:
                raise
            except ValueError as err:
                raise UsageError(f"{Path(path).name}: {err}") from err
            print(report_line(result), flush=True)
            results.append(result)
    if len(results) > 1:
        mean = lambda key: sum(getattr(r, key) for r in results) / len(results)  # noqa: E731
        line = (f"mean of {len(results)} sets: ROC-AUC {mean('roc_auc'):.3f}, "
                f"average precision {mean('average_precision'):.3f}, F1 {mean('f1'):.3f}")
        if all(r.baseline for r in results):
            base = lambda key: sum(r.baseline[key] for r in results) / len(results)  # noqa: E731
            line += (f"; scikit-learn: ROC-AUC {base('roc_auc'):.3f}, "
                     f"average precision {base('average_precision'):.3f}, F1 {base('f1'):.3f}")
        print(line)
    if args.json:
        payload = [asdict(r) for r in results]
        Path(args.json).write_text(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
