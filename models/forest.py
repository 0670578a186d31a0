"""Isolation forest as a Spark ML Estimator and Model.

`anomaly_score` is the score of Liu, Ting and Zhou (2008), 2^(-E[h(x)]/c(psi)),
in (0, 1], higher is more anomalous; it equals scikit-learn's
`-IsolationForest.score_samples` on the same trees. `extensionLevel` 0 fits
scikit-learn's axis-parallel trees; a level e > 0 fits the extended isolation
forest (models.extended), whose cuts are sloped over e + 1 features. The threshold is set at fit
time as the (1 - contamination) quantile of the scores of the whole input,
computed with Spark's approxQuantile (see models.thresholds for its relative error).

>>> from pyspark.sql import SparkSession
>>> spark = SparkSession.builder.getOrCreate()                      # doctest: +SKIP
>>> df = spark.createDataFrame([(float(i % 7), float(i % 5)) for i in range(500)] + [(90.0, 90.0)], "a double, b double")  # doctest: +SKIP
>>> model = IsolationForest(inputCols=["a", "b"], numTrees=50).fit(df)  # doctest: +SKIP
>>> model.transform(df).orderBy("anomaly_score", ascending=False).first().a  # doctest: +SKIP
90.0
"""
from __future__ import annotations

import io
from typing import Iterator, Tuple

import joblib

import numpy as np
import pandas as pd
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.functions import vector_to_array
from pyspark.ml.param.shared import HasFeaturesCol, HasInputCols, HasPredictionCol, HasSeed
from pyspark.ml.util import (DefaultParamsReadable, DefaultParamsReader, DefaultParamsWritable, DefaultParamsWriter,
                             MLReadable, MLReader, MLWritable, MLWriter)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from sklearn.ensemble import IsolationForest as SkIsolationForest

from features.engineering import feature_matrix, impute
from lakehouse.config import ModelConfig, field_default
from models.explain import explainer_for
from models.extended import ExtendedIsolationForest
from models.sampling import draw_sample
from models.thresholds import threshold_from_contamination


# The Params that are [model] settings -> their ModelConfig field, whose default is theirs (written once, there).
MODEL_PARAMS = {"numTrees": "num_trees", "maxSamples": "max_samples", "maxFeatures": "max_features",
                "extensionLevel": "extension_level", "contamination": "contamination", "seed": "seed"}
OUTPUT_COLS = {"scoreCol": "anomaly_score", "predictionCol": "is_anomaly", "explainCol": "top_features"}


class _IsolationForestParams(HasFeaturesCol, HasInputCols, HasSeed, HasPredictionCol):
    """Input is either numeric `inputCols` (used when set) or a vector `featuresCol` (default "features")."""

    numTrees = Param(Params._dummy(), "numTrees", "number of trees (> 0)", typeConverter=TypeConverters.toInt)
    maxSamples = Param(Params._dummy(), "maxSamples", "rows drawn for each tree (> 0)", typeConverter=TypeConverters.toInt)
    maxFeatures = Param(Params._dummy(), "maxFeatures",
                        "features drawn for each tree: a share in (0, 1], or a whole count > 1 (scikit-learn's max_features)",
                        typeConverter=TypeConverters.toFloat)
    extensionLevel = Param(Params._dummy(), "extensionLevel",
                           "features per cut minus one: 0 = axis-parallel (scikit-learn's trees), up to features - 1",
                           typeConverter=TypeConverters.toInt)
    rowIdCol = Param(Params._dummy(), "rowIdCol",
                     "optional long column numbering the rows: the training sample is then reproducible in numpy "
                     "(models.sampling.sample_positions)", typeConverter=TypeConverters.toString)
    weightCol = Param(Params._dummy(), "weightCol",
                      "optional non-negative column: the training sample is drawn with probability proportional to it "
                      "(e.g. time-decayed history beside the new day; models.sampling.weighted_key)",
                      typeConverter=TypeConverters.toString)
    contamination = Param(Params._dummy(), "contamination", "target share of anomalies, sets the threshold", typeConverter=TypeConverters.toFloat)
    scoreCol = Param(Params._dummy(), "scoreCol", "output column for the anomaly score", typeConverter=TypeConverters.toString)
    explainCol = Param(Params._dummy(), "explainCol", "output column for the top contributing features of anomalies",
                       typeConverter=TypeConverters.toString)

    def __init__(self, *args):
        super().__init__(*args)
        self._setDefault(**{param: field_default(ModelConfig, name) for param, name in MODEL_PARAMS.items()},
                         **OUTPUT_COLS)

    def getExplainCol(self) -> str:
        return self.getOrDefault(self.explainCol)

    def getNumTrees(self) -> int:
        return self.getOrDefault(self.numTrees)

    def getMaxSamples(self) -> int:
        return self.getOrDefault(self.maxSamples)

    def getMaxFeatures(self) -> float:
        return self.getOrDefault(self.maxFeatures)

    def getExtensionLevel(self) -> int:
        return self.getOrDefault(self.extensionLevel)

    def getContamination(self) -> float:
        return self.getOrDefault(self.contamination)

    def getScoreCol(self) -> str:
        return self.getOrDefault(self.scoreCol)

    def setInputCols(self, value: list[str]):
        return self._set(inputCols=value)

    def setFeaturesCol(self, value: str):
        return self._set(featuresCol=value)

    def _feature_columns(self) -> list:
        """Spark columns whose values, side by side, are the feature matrix."""
        if self.isSet(self.inputCols):
            return [F.col(c).cast("double") for c in self.getInputCols()]
        return [vector_to_array(F.col(self.getFeaturesCol()))]

    def setScoreCol(self, value: str):
        return self._set(scoreCol=value)

    def setPredictionCol(self, value: str):
        return self._set(predictionCol=value)


def to_matrix(columns) -> np.ndarray:
    """pandas columns (numbers, or one column of arrays) -> a float64 matrix, missing values imputed.

    Spark hands a pandas UDF nulls as NaN; `impute` (features.engineering) fills
    them as the pandas scorer and the MLflow pyfunc do.
    """
    if len(columns) == 1 and columns[0].dtype == object:
        return impute(np.vstack(columns[0].to_numpy()).astype("float64", copy=False))
    return impute(np.column_stack([c.to_numpy(dtype="float64") for c in columns]))


class IsolationForest(Estimator, _IsolationForestParams, DefaultParamsReadable, DefaultParamsWritable):
    """Fits trees on a uniform Spark-drawn sample of min(rows, numTrees x maxSamples) rows (see draw_sample).

    scikit-learn then draws each tree's maxSamples rows from that sample without
    replacement, so every tree's rows are a uniform draw from the whole input.
    With `weightCol`, the sample is drawn with probability proportional to the
    weight instead (the nightly job weighs its remembered history by age).
    """

    @keyword_only
    def __init__(self, *, inputCols=None, featuresCol="features", numTrees=ModelConfig.num_trees,
                 maxSamples=ModelConfig.max_samples, maxFeatures=ModelConfig.max_features,
                 extensionLevel=ModelConfig.extension_level, rowIdCol=None, weightCol=None,
                 contamination=ModelConfig.contamination, seed=ModelConfig.seed, scoreCol=OUTPUT_COLS["scoreCol"],
                 predictionCol=OUTPUT_COLS["predictionCol"], explainCol=OUTPUT_COLS["explainCol"]):
        super().__init__()
        self._set(**self._input_kwargs)

    @classmethod
    def from_config(cls, model: ModelConfig, inputCols: list[str], **params) -> "IsolationForest":
        """The Estimator with the `[model]` section's settings; `params` set any other Param (e.g. rowIdCol).

        >>> IsolationForest.from_config(ModelConfig(num_trees=30), ["a", "b"]).getNumTrees()  # doctest: +SKIP
        30
        """
        settings = {param: getattr(model, name) for param, name in MODEL_PARAMS.items()}
        return cls(inputCols=list(inputCols), **settings, **params)

    def _fit(self, dataset: DataFrame) -> "IsolationForestModel":
        num_trees, max_samples = self.getNumTrees(), self.getMaxSamples()
        if num_trees <= 0 or max_samples <= 0:
            raise ValueError("numTrees and maxSamples must be positive")
        if not 0.0 < self.getContamination() < 0.5:
            raise ValueError("contamination must be in (0, 0.5)")
        row_id = self.getOrDefault(self.rowIdCol) if self.isSet(self.rowIdCol) else None
        weight = self.getOrDefault(self.weightCol) if self.isSet(self.weightCol) else None
        features = self._feature_columns()
        extra = [c for c in (row_id, weight) if c]
        sample = draw_sample(dataset.select(*features, *extra), num_trees * max_samples, self.getSeed(),
                             row_id=row_id, weight=weight).drop(columns=extra)
        forest = fit_forest(to_matrix([sample[c] for c in sample.columns]), num_trees, max_samples,
                            self.getMaxFeatures(), self.getExtensionLevel(), self.getSeed())
        model = self._copyValues(IsolationForestModel(forest=forest))
        model.sample_size_ = len(sample)
        model.threshold_ = threshold_from_contamination(model.transform(dataset), model.getScoreCol(), self.getContamination())
        return model


def fit_forest(X: np.ndarray, num_trees: int, max_samples: int, max_features: float, extension_level: int,
               seed: int):
    """The trees of a forest fitted on the sample `X` (numpy; the Estimator and the in-process evaluation share it).

    Each tree draws min(max_samples, rows) rows of `X` without replacement.
    Extension level 0 gives scikit-learn's IsolationForest; above it, the extended forest.
    """
    if len(X) < 2:
        raise ValueError(f"cannot fit an isolation forest on {len(X)} rows")
    max_features = sklearn_max_features(max_features)
    if extension_level < 0:
        raise ValueError(f"extensionLevel must be >= 0, got {extension_level}")
    if extension_level == 0:
        return SkIsolationForest(n_estimators=num_trees, max_samples=min(max_samples, len(X)),
                                 max_features=max_features, random_state=seed % (2**32)).fit(X)
    return ExtendedIsolationForest(n_estimators=num_trees, max_samples=max_samples, extension_level=extension_level,
                                   max_features=max_features, random_state=seed % (2**32)).fit(X)


def sklearn_max_features(value: float) -> float | int:
    """maxFeatures as scikit-learn wants it: a share in (0, 1] stays a float, a count > 1 becomes an int."""
    if value <= 0 or (value > 1 and not float(value).is_integer()):
        raise ValueError(f"maxFeatures must be a share in (0, 1] or a whole count > 1, got {value}")
    return float(value) if value <= 1 else int(value)


class IsolationForestModel(Model, _IsolationForestParams, MLReadable, MLWritable):
    """Scores rows in parallel on the executors with the forest broadcast once.

    Learned state: `forest_` (scikit-learn's or the extended trees), `threshold_` (score at or
    above which a row is an anomaly), `sample_size_`.
    """

    def __init__(self, forest: SkIsolationForest | None = None, threshold: float | None = None):
        super().__init__()
        self.forest_ = forest
        self.threshold_ = threshold
        self.sample_size_ = None
        self._broadcast = None

    @property
    def features(self) -> list[str]:
        return list(self.getInputCols()) if self.isSet(self.inputCols) else []

    def score_pandas(self, frame: pd.DataFrame) -> np.ndarray:
        """Scores for a pandas frame holding the input columns (no Spark needed), missing values imputed."""
        return -self.forest_.score_samples(feature_matrix(frame, self.features))

    def _forest_broadcast(self, spark):
        """The trees, shipped to the executors once per model."""
        if self._broadcast is None:
            self._broadcast = spark.sparkContext.broadcast(self.forest_)
        return self._broadcast

    def _score_udf(self, spark):
        broadcast = self._forest_broadcast(spark)

        @F.pandas_udf("double")
        def score(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
            forest = broadcast.value
            for columns in batches:
                columns = (columns,) if isinstance(columns, pd.Series) else columns
                yield pd.Series(-forest.score_samples(to_matrix(columns)))

        return score

    def _explaining_udf(self, spark):
        """Scores every row; names the top contributing features of rows at or above the threshold."""
        broadcast, threshold = self._forest_broadcast(spark), self.threshold_
        names = self.features or [f"x{i}" for i in range(self.forest_.n_features_in_)]

        @F.pandas_udf("score double, top array<string>")
        def score_and_explain(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.DataFrame]:
            forest = broadcast.value
            explainer = explainer_for(forest, names)
            for columns in batches:
                columns = (columns,) if isinstance(columns, pd.Series) else columns
                X = to_matrix(columns)
                scores = -forest.score_samples(X)
                top = np.full(len(X), None, dtype=object)
                flagged = np.flatnonzero(scores >= threshold)
                if len(flagged):
                    top[flagged] = explainer.top_features(X[flagged])
                yield pd.DataFrame({"score": scores, "top": top})

        return score_and_explain

    def _transform(self, dataset: DataFrame) -> DataFrame:
        score_col = self.getScoreCol()
        if self.threshold_ is None:
            return dataset.withColumn(score_col, self._score_udf(dataset.sparkSession)(*self._feature_columns()))
        out = "_isoguard_scored"
        return (dataset.withColumn(out, self._explaining_udf(dataset.sparkSession)(*self._feature_columns()))
                .withColumn(score_col, F.col(f"{out}.score"))
                .withColumn(self.getPredictionCol(), F.col(f"{out}.score") >= F.lit(self.threshold_))
                .withColumn(self.getExplainCol(), F.col(f"{out}.top"))
                .drop(out))

    def write(self) -> MLWriter:
        return _ModelWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        return _ModelReader()


class _ModelWriter(MLWriter):
    """Params and threshold as Spark ML metadata; the trees as one binary row (any Hadoop path)."""

    def __init__(self, instance: IsolationForestModel):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        model = self.instance
        DefaultParamsWriter.saveMetadata(model, path, self.sparkSession, extraMetadata={
            "threshold": model.threshold_, "sample_size": model.sample_size_})
        buffer = io.BytesIO()
        joblib.dump(model.forest_, buffer)
        self.sparkSession.createDataFrame([(bytearray(buffer.getvalue()),)], "forest binary") \
            .coalesce(1).write.parquet(f"{path}/forest")


class _ModelReader(MLReader):
    def load(self, path: str) -> IsolationForestModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        blob = self.sparkSession.read.parquet(f"{path}/forest").first().forest
        model = IsolationForestModel(forest=joblib.load(io.BytesIO(bytes(blob))), threshold=metadata.get("threshold"))
        model.sample_size_ = metadata.get("sample_size")
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        return model
