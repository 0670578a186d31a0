from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from models import registry
from models.forest import IsolationForest


def test_register_alias_and_load_round_trip(spark, lake_config):
    features = list(lake_config.features)
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(50, 5, size=(500, len(features))), columns=features)
    model = IsolationForest(inputCols=features, numTrees=20, maxSamples=64, maxFeatures=0.5).fit(spark.createDataFrame(frame))

    assert registry.alias_version(lake_config) is None
    version = registry.register_model(model, lake_config, {"window": "test", "rows": 500}, {"training_rows": 500})
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
    pyfunc = mlflow.pyfunc.load_model(f"models:/{lake_config.model.name}@champion")
    out = pyfunc.predict(frame)
    np.testing.assert_allclose(out["anomaly_score"].to_numpy(), model.score_pandas(frame))
    assert (out["is_anomaly"] == (out["anomaly_score"] >= model.threshold_)).all()
    assert Path(lake_config.lake_path("mlflow.db")).is_file(), "the default registry is SQLite inside the lake"
