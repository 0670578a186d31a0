import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest as SkIsolationForest

from models.forest import IsolationForest, IsolationForestModel


@pytest.fixture(scope="module")
def blobs(spark):
    rng = np.random.default_rng(0)
    normal = rng.normal(0, 1, size=(2000, 3))
    outliers = rng.uniform(6, 9, size=(20, 3))
    data = np.vstack([normal, outliers])
    frame = pd.DataFrame(data, columns=["a", "b", "c"]).assign(label=[0] * 2000 + [1] * 20)
    return frame, spark.createDataFrame(frame)


def test_scores_equal_scikit_learn_on_the_same_trees(spark, blobs):
    frame, df = blobs
    forest = SkIsolationForest(n_estimators=50, max_samples=128, random_state=3).fit(frame[["a", "b", "c"]].to_numpy())
    model = IsolationForestModel(forest=forest, threshold=0.6).setInputCols(["a", "b", "c"])
    scored = model.transform(df).toPandas()
    expected = -forest.score_samples(frame[["a", "b", "c"]].to_numpy())
    np.testing.assert_allclose(scored["anomaly_score"].to_numpy(), expected, rtol=0, atol=1e-12)
    assert ((scored["anomaly_score"] >= 0.6) == scored["is_anomaly"]).all()


def test_fit_finds_the_outliers_and_sets_the_threshold_from_contamination(spark, blobs):
    _, df = blobs
    model = IsolationForest(inputCols=["a", "b", "c"], numTrees=50, maxSamples=128, contamination=0.01, seed=1).fit(df)
    assert isinstance(model, IsolationForestModel)
    assert 0 < model.threshold_ < 1
    assert model.sample_size_ <= 50 * 128
    scored = model.transform(df).toPandas()
    assert scored["anomaly_score"].between(0, 1).all()
    flagged_share = scored["is_anomaly"].mean()
    assert 0.005 <= flagged_share <= 0.02, flagged_share
    assert scored.loc[scored.label == 1, "is_anomaly"].mean() > 0.9


def test_fit_is_reproducible_for_a_seed(spark, blobs):
    _, df = blobs
    a = IsolationForest(inputCols=["a", "b", "c"], numTrees=20, seed=5).fit(df)
    b = IsolationForest(inputCols=["a", "b", "c"], numTrees=20, seed=5).fit(df)
    assert a.threshold_ == b.threshold_


def test_empty_input_is_a_clear_error(spark):
    empty = spark.createDataFrame([], "a double")
    with pytest.raises(ValueError, match="cannot fit an isolation forest on 0 rows"):
        IsolationForest(inputCols=["a"]).fit(empty)


def test_label_threshold_maximises_f1(spark):
    from sklearn.metrics import f1_score

    from models.thresholds import threshold_from_labels

    rng = np.random.default_rng(4)
    scores = np.concatenate([rng.uniform(0.3, 0.6, 1000), rng.uniform(0.55, 0.8, 50)])
    labels = np.array([0] * 1000 + [1] * 50)
    frame = spark.createDataFrame(pd.DataFrame({"s": scores, "y": labels}))
    chosen = threshold_from_labels(frame, "s", "y")
    chosen_f1 = f1_score(labels, scores >= chosen)
    best_possible = max(f1_score(labels, scores >= t) for t in np.unique(scores))
    assert chosen_f1 >= best_possible - 0.02, (chosen_f1, best_possible)


def test_works_in_a_pipeline_and_survives_save_and_load(spark, blobs, tmp_path):
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.feature import StandardScaler, VectorAssembler

    _, df = blobs
    pipeline = Pipeline(stages=[
        VectorAssembler(inputCols=["a", "b", "c"], outputCol="raw"),
        StandardScaler(inputCol="raw", outputCol="scaled"),
        IsolationForest(featuresCol="scaled", numTrees=30, maxSamples=128, contamination=0.01, seed=2),
    ])
    fitted = pipeline.fit(df)
    before = fitted.transform(df).select("anomaly_score", "is_anomaly", "label").toPandas()
    assert before.loc[before.label == 1, "is_anomaly"].mean() > 0.9

    fitted.write().overwrite().save(str(tmp_path / "pipeline"))
    loaded = PipelineModel.load(str(tmp_path / "pipeline"))
    after = loaded.transform(df).select("anomaly_score", "is_anomaly").toPandas()
    np.testing.assert_array_equal(after["anomaly_score"].to_numpy(), before["anomaly_score"].to_numpy())
    forest = loaded.stages[-1]
    assert isinstance(forest, IsolationForestModel)
    assert forest.threshold_ == fitted.stages[-1].threshold_
    assert forest.getNumTrees() == 30 and forest.getFeaturesCol() == "scaled"


def test_unfitted_estimator_round_trips_its_params(tmp_path):
    estimator = IsolationForest(inputCols=["a", "b"], numTrees=7, maxSamples=64, contamination=0.05, seed=9)
    estimator.save(str(tmp_path / "estimator"))
    loaded = IsolationForest.load(str(tmp_path / "estimator"))
    assert (loaded.getNumTrees(), loaded.getMaxSamples(), loaded.getContamination(), loaded.getSeed()) == (7, 64, 0.05, 9)
    assert loaded.getInputCols() == ["a", "b"]


def test_an_anomaly_in_one_feature_names_that_feature_first(spark, blobs):
    frame, _ = blobs
    normal = spark.createDataFrame(frame[frame.label == 0][["a", "b", "c"]])
    model = IsolationForest(inputCols=["a", "b", "c"], numTrees=100, contamination=0.01, seed=3).fit(normal)
    model.threshold_ = 0.5  # this test is about attribution: flag anything clearly off-centre
    probes = spark.createDataFrame([(0.0, 0.0, 30.0), (0.0, -30.0, 0.0), (0.1, 0.0, 0.0)], "a double, b double, c double")
    rows = model.transform(probes).collect()
    assert rows[0].is_anomaly and rows[0].top_features[0] == "c"
    assert rows[1].is_anomaly and rows[1].top_features[0] == "b"
    assert not rows[2].is_anomaly and rows[2].top_features is None, "only anomalies are explained"


def test_max_features_draws_a_share_of_the_features_per_tree_and_survives_save_and_load(spark, blobs, tmp_path):
    frame, df = blobs
    model = IsolationForest(inputCols=["a", "b", "c"], numTrees=20, maxSamples=128, maxFeatures=2 / 3, extensionLevel=0,
                            seed=4).fit(df)
    assert {len(f) for f in model.forest_.estimators_features_} == {2}, "each tree sees two of the three features"
    assert model.transform(df).toPandas().loc[frame.label == 1, "is_anomaly"].mean() > 0.5

    model.write().save(str(tmp_path / "model"))
    loaded = IsolationForestModel.load(str(tmp_path / "model"))
    assert loaded.getMaxFeatures() == 2 / 3
    np.testing.assert_array_equal(loaded.score_pandas(frame), model.score_pandas(frame))

    estimator = IsolationForest(inputCols=["a", "b", "c"], maxFeatures=2)
    estimator.save(str(tmp_path / "estimator"))
    assert IsolationForest.load(str(tmp_path / "estimator")).getMaxFeatures() == 2.0
    assert IsolationForest().getMaxFeatures() == 1.0, "default: every feature, as in scikit-learn"


def test_max_features_as_a_count_matches_scikit_learn(spark, blobs):
    frame, df = blobs
    model = IsolationForest(inputCols=["a", "b", "c"], numTrees=15, maxSamples=64, maxFeatures=2, extensionLevel=0,
                            seed=6).fit(df)
    assert model.forest_.max_features == 2 and isinstance(model.forest_.max_features, int)


@pytest.mark.parametrize("bad", [0.0, -1.0, 2.5])
def test_bad_max_features_is_a_clear_error(spark, blobs, bad):
    _, df = blobs
    with pytest.raises(ValueError, match="maxFeatures must be a share in"):
        IsolationForest(inputCols=["a", "b", "c"], maxFeatures=bad).fit(df)


def test_extended_forest_fits_scores_and_explains(spark, blobs):
    """extensionLevel > 0: sloped cuts; the outliers still rank first and are explained by the extreme feature."""
    frame, df = blobs
    model = IsolationForest(inputCols=["a", "b", "c"], numTrees=50, maxSamples=128, extensionLevel=2,
                            contamination=0.01, seed=1).fit(df)
    from models.extended import ExtendedIsolationForest

    assert isinstance(model.forest_, ExtendedIsolationForest)
    scored = model.transform(df).toPandas()
    assert scored.loc[scored.label == 1, "is_anomaly"].mean() > 0.9
    expected = -model.forest_.score_samples(frame[["a", "b", "c"]].to_numpy())
    np.testing.assert_allclose(scored.anomaly_score.to_numpy(), expected, rtol=0, atol=1e-12)
    probe = spark.createDataFrame(pd.DataFrame({"a": [0.0], "b": [12.0], "c": [0.0]}))
    assert model.transform(probe).first().top_features[0] == "b"


def test_extension_level_beyond_the_features_is_a_clear_error(spark, blobs):
    _, df = blobs
    with pytest.raises(ValueError, match=r"extensionLevel must be in \[0, 2\] for 3 features, got 3"):
        IsolationForest(inputCols=["a", "b", "c"], numTrees=5, extensionLevel=3).fit(df)


def test_the_estimator_defaults_are_the_model_sections():
    """Params without a value take the [model] defaults (lakehouse.config.ModelConfig), written only there."""
    from lakehouse.config import ModelConfig

    estimator, m = IsolationForest(inputCols=["a"]), ModelConfig()
    assert (estimator.getNumTrees(), estimator.getMaxSamples(), estimator.getMaxFeatures(),
            estimator.getExtensionLevel(), estimator.getContamination(), estimator.getSeed()) == \
        (m.num_trees, m.max_samples, m.max_features, m.extension_level, m.contamination, m.seed)


def test_from_config_takes_every_model_setting():
    from lakehouse.config import ModelConfig

    m = ModelConfig(num_trees=7, max_samples=32, max_features=0.5, extension_level=0, contamination=0.02, seed=3)
    estimator = IsolationForest.from_config(m, ["a", "b"], rowIdCol="row")
    assert (estimator.getNumTrees(), estimator.getMaxSamples(), estimator.getMaxFeatures(),
            estimator.getExtensionLevel(), estimator.getContamination(), estimator.getSeed()) == (7, 32, 0.5, 0, 0.02, 3)
    assert estimator.getInputCols() == ["a", "b"] and estimator.getOrDefault("rowIdCol") == "row"
