"""Feature engineering: one code path for the stream and the nightly job.

    features = build_features(events, config)   # DataFrame -> DataFrame (needs a SparkSession)

Missing values have one definition, here: a feature that is null or NaN is
IMPUTE_VALUE. `impute` (numpy) is applied by every scorer of a forest (the
Spark transform's pandas UDF, `IsolationForestModel.score_pandas`, the MLflow
pyfunc) and by fitting, so the same row gets the same score on every path;
`impute_column` is the same rule as a Spark expression, for `build_features`.
Infinities are not missing: validation quarantines them before scoring.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.config import Config

# A missing optional metric is treated as 0 (e.g. no errors reported).
IMPUTE_VALUE = 0.0


def impute(X: np.ndarray) -> np.ndarray:
    """`X` (float) with every NaN replaced by IMPUTE_VALUE; `X` itself when nothing is missing (no copy)."""
    missing = np.isnan(X)
    return np.where(missing, IMPUTE_VALUE, X) if missing.any() else X


def impute_column(column: Column) -> Column:
    """The Spark expression of `impute`: a double, IMPUTE_VALUE where the value is null or NaN."""
    value = column.cast("double")
    return F.when(value.isNull() | F.isnan(value), F.lit(IMPUTE_VALUE)).otherwise(value)


def build_features(events: DataFrame, config: Config) -> DataFrame:
    """Keep identity columns and turn each configured feature into a non-null double."""
    s = config.schema
    identity = [s.event_id, s.key, s.event_time]
    feature_cols = [impute_column(F.col(name)).alias(name) for name in config.features]
    return events.select(*identity, *feature_cols, "event_date")


def feature_matrix(frame: pd.DataFrame, features: list[str] | tuple[str, ...]) -> np.ndarray:
    """The same features from a pandas frame (the pandas/pyfunc scoring path)."""
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise ValueError(f"input is missing feature columns: {', '.join(missing)}")
    return impute(frame[list(features)].astype("float64").to_numpy())
