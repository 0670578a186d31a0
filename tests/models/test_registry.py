from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest as SkIsolationForest

from features.engineering import IMPUTE_VALUE
from models import registry
from models.forest import IsolationForest, IsolationForestModel
from models.pyfunc import IsoguardPyfunc


def _pyfunc_flavor(config, version: str) -> dict:
    mlflow.set_tracking_uri(config.tracking_uri)
    return mlflow.models.get_model_info(f"models:/{config.model.name}/{version}").flavors["python_function"]


def _small_model(config, seed: int = 0) -> IsolationForestModel:
    """A forest fitted with scikit-learn alone (no Spark), wrapped as the stream scores it."""
    features = list(config.features)
    X = np.random.default_rng(seed).normal(50, 5, size=(300, len(features)))
    model = IsolationForestModel(forest=SkIsolationForest(n_estimators=20, random_state=seed).fit(X), threshold=0.55)
    return model.setInputCols(features)


def test_register_alias_and_load_round_trip(spark, lake_config):
    features = list(lake_config.features)
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(50, 5, size=(500, len(features))), columns=features)
    model = IsolationForest(inputCols=features, numTrees=20, maxSamples=64, maxFeatures=0.5).fit(spark.createDataFrame(frame))

    assert registry.alias_version(lake_config) is None
    version = registry.register_model(model, lake_config, {"window": "test", "rows": 500},
                                      {registry.METRIC_TRAINING_ROWS: 500})
    assert registry.alias_version(lake_config) is None, "registering alone does not promote"
    registry.set_alias(lake_config, version)
    assert registry.alias_version(lake_config) == version

    loaded = registry.load_version(lake_config, version)
    assert loaded.features == features
    assert loaded.threshold == model.threshold_
    assert loaded.model.getMaxFeatures() == 0.5
    np.testing.assert_array_equal(loaded.model.score_pandas(frame), model.score_pandas(frame))

    # Without Spark: the pyfunc flavour scores a pandas frame through the alias.
    mlflow.set_tracking_uri(lake_config.tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{lake_config.model.name}@{registry.CHAMPION}")
    out = pyfunc.predict(frame)
    np.testing.assert_allclose(out["anomaly_score"].to_numpy(), model.score_pandas(frame))
    assert (out["is_anomaly"] == (out["anomaly_score"] >= model.threshold_)).all()
    assert Path(lake_config.lake_path("mlflow.db")).is_file(), "the default registry is SQLite inside the lake"

    flavor = _pyfunc_flavor(lake_config, version)
    assert "model_code_path" in flavor and "python_model" not in flavor, "logged from code, not cloudpickled"


def test_list_versions_reads_typed_versions(lake_config):
    assert registry.list_versions(lake_config) == ()
    assert not Path(lake_config.lake_path("mlflow.db")).exists(), "reading does not create a store"
    first = registry.register_model(_small_model(lake_config), lake_config, {"window": "2026-11-20"},
                                    {registry.METRIC_TRAINING_ROWS: 300, registry.holdout_metric("f1"): 0.5},
                                    tags={registry.TAG_EVENTS_VERSION: 7})
    registry.promote(lake_config, first)
    registry.tag_version(lake_config, first, {registry.TAG_GATE_DECISION: "promoted: first model"})
    second = registry.register_model(_small_model(lake_config, 1), lake_config, {"window": "2026-11-21"}, {})
    registry.set_alias(lake_config, second, registry.CHALLENGER)

    newest, oldest = registry.list_versions(lake_config)
    assert (newest.version, newest.aliases, oldest.version, oldest.aliases) == (
        second, (registry.CHALLENGER,), first, (registry.CHAMPION,))
    assert oldest.features == tuple(lake_config.features) and oldest.threshold == 0.55
    assert (oldest.training_window, oldest.events_version, oldest.gate_decision) == ("2026-11-20", 7, "promoted: first model")
    assert oldest.finished and not newest.finished and oldest.promoted_at and newest.promoted_at is None
    assert oldest.metrics[registry.holdout_metric("f1")] == 0.5 and oldest.metrics[registry.METRIC_THRESHOLD] == 0.55
    assert registry.finished_version(lake_config, "2026-11-20", 7) == first
    assert registry.finished_version(lake_config, "2026-11-21") is None, "no gate decision: its retrain did not finish"


def test_a_version_pickled_before_models_from_code_still_loads(lake_config, monkeypatch):
    """Versions registered before this change hold a cloudpickled models.registry.IsoguardPyfunc."""
    model = _small_model(lake_config)
    with monkeypatch.context() as old_writer:
        old_writer.setattr(IsoguardPyfunc, "__module__", "models.registry")  # where the class was defined then
        old_writer.setattr(registry, "PYFUNC_MODEL", IsoguardPyfunc())
        version = registry.register_model(model, lake_config, {"window": "old"}, {})
    assert "python_model" in _pyfunc_flavor(lake_config, version), "the version is pickled, as older ones are"

    frame = pd.DataFrame(np.random.default_rng(2).normal(50, 5, size=(20, len(model.features))), columns=model.features)
    loaded = registry.load_version(lake_config, version)
    np.testing.assert_array_equal(loaded.model.score_pandas(frame), model.score_pandas(frame))
    out = mlflow.pyfunc.load_model(f"models:/{lake_config.model.name}/{version}").predict(frame)
    np.testing.assert_array_equal(out["anomaly_score"].to_numpy(), model.score_pandas(frame))


def test_missing_values_score_the_same_in_spark_pandas_and_the_pyfunc(spark, lake_config):
    model = _small_model(lake_config)
    features = model.features
    rows = np.random.default_rng(3).normal(50, 5, size=(6, len(features)))
    rows[0, 0] = rows[1, -1] = rows[2, 3] = np.nan
    rows[3, :] = np.nan
    frame = pd.DataFrame(rows, columns=features)
    nulls = [[None if np.isnan(v) else float(v) for v in row] for row in rows]
    df = spark.createDataFrame(nulls, ", ".join(f"{c} double" for c in features))

    in_spark = model.transform(df).toPandas()["anomaly_score"].to_numpy()
    in_pandas = model.score_pandas(frame)
    version = registry.register_model(model, lake_config, {"window": "nan"}, {})
    mlflow.set_tracking_uri(lake_config.tracking_uri)
    in_pyfunc = mlflow.pyfunc.load_model(f"models:/{lake_config.model.name}/{version}").predict(frame)["anomaly_score"]

    np.testing.assert_array_equal(in_spark, in_pandas)
    np.testing.assert_array_equal(in_pyfunc.to_numpy(), in_pandas)
    assert np.array_equal(in_pandas, model.score_pandas(frame.fillna(IMPUTE_VALUE))), "missing means IMPUTE_VALUE"
