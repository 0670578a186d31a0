"""Feature engineering: one code path for the stream and the nightly job.

    features = build_features(events, config)   # DataFrame -> DataFrame (needs a SparkSession)
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.config import Config

# A missing optional metric is treated as 0 (e.g. no errors reported).
IMPUTE_VALUE = 0.0


def build_features(events: DataFrame, config: Config) -> DataFrame:
    """Keep identity columns and turn each configured feature into a non-null double."""
    s = config.schema
    identity = [s.event_id, s.key, s.event_time]
    feature_cols = [F.coalesce(F.col(name).cast("double"), F.lit(IMPUTE_VALUE)).alias(name) for name in config.features]
    return events.select(*identity, *feature_cols, "event_date")


def feature_matrix(frame: pd.DataFrame, features: list[str] | tuple[str, ...]) -> np.ndarray:
    """The same features from a pandas frame (the pandas/pyfunc scoring path)."""
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise ValueError(f"input is missing feature columns: {', '.join(missing)}")
    return frame[list(features)].astype("float64").fillna(IMPUTE_VALUE).to_numpy()
