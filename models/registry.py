"""The MLflow side of a model: log, register, point aliases, load.

A registered version carries its feature list, threshold and training window
(in `isoguard.json` and as version tags) and loads without Spark:

    model = mlflow.pyfunc.load_model("models:/isoguard@champion")
    model.predict(pandas_frame)   # -> anomaly_score, is_anomaly
"""
from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pandas as pd
import sklearn
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from features.engineering import feature_matrix
from lakehouse.config import Config
from lakehouse.tracking import store_client
from models.forest import IsolationForestModel

CHAMPION = "champion"
CHALLENGER = "challenger"
DECISION_TAG = "gate_decision"  # written last by a retrain: a version without it belongs to a run that did not finish
log = logging.getLogger(__name__)


class IsoguardPyfunc(mlflow.pyfunc.PythonModel):
    """The pandas face of a registered model: features in, anomaly_score and is_anomaly out."""

    def load_context(self, context):
        self.forest_ = joblib.load(context.artifacts["forest"])
        self.meta_ = json.loads(Path(context.artifacts["meta"]).read_text())

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        scores = -self.forest_.score_samples(feature_matrix(model_input, self.meta_["features"]))
        return pd.DataFrame({"anomaly_score": scores, "is_anomaly": scores >= self.meta_["threshold"]})


@dataclass(frozen=True)
class LoadedModel:
    version: str
    model: IsolationForestModel
    meta: dict

    @property
    def features(self) -> list[str]:
        return list(self.meta["features"])

    @property
    def threshold(self) -> float:
        return float(self.meta["threshold"])


def client_for(config: Config) -> MlflowClient:
    mlflow.set_tracking_uri(config.tracking_uri)
    return store_client(config.tracking_uri)


def _experiment_id(client: MlflowClient, config: Config) -> str:
    existing = client.get_experiment_by_name(config.mlflow_experiment)
    if existing is not None:
        return existing.experiment_id
    if config.artifact_location:
        Path(config.lake_path("mlartifacts")).mkdir(parents=True, exist_ok=True)
    return client.create_experiment(config.mlflow_experiment, artifact_location=config.artifact_location)


def register_model(
    model: IsolationForestModel,
    config: Config,
    training: dict,
    metrics: dict[str, float],
    params: dict | None = None,
    tags: dict[str, str] | None = None,
    artifacts: dict[str, object] | None = None,
) -> str:
    """Log the model to MLflow, register it as a new version, return the version.

    `tags` become version tags next to `features`, `threshold` and
    `training_window`; `artifacts` (run-relative path -> matplotlib figure or
    dict) are logged to the same run.
    """
    client = client_for(config)
    meta = {
        "features": model.features,
        "threshold": float(model.threshold_),
        "contamination": model.getContamination(),
        "num_trees": model.getNumTrees(),
        "max_samples": model.getMaxSamples(),
        "max_features": model.getMaxFeatures(),
        "training": training,
    }
    with tempfile.TemporaryDirectory() as tmp:
        forest_path, meta_path = Path(tmp) / "forest.joblib", Path(tmp) / "isoguard.json"
        joblib.dump(model.forest_, forest_path)
        meta_path.write_text(json.dumps(meta, indent=2, default=str))
        with mlflow.start_run(experiment_id=_experiment_id(client, config), run_name=f"retrain {training.get('window', '')}"):
            mlflow.log_params({"num_trees": meta["num_trees"], "max_samples": meta["max_samples"],
                               "max_features": meta["max_features"], "contamination": meta["contamination"],
                               "features": ",".join(meta["features"]),
                               **(params or {})})
            mlflow.log_metrics({"threshold": meta["threshold"], **metrics})
            for path, artifact in (artifacts or {}).items():
                (mlflow.log_dict if isinstance(artifact, dict) else mlflow.log_figure)(artifact, path)
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=IsoguardPyfunc(),
                artifacts={"forest": str(forest_path), "meta": str(meta_path)},
                registered_model_name=config.model.name,
                pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}",
                                  f"pandas=={pd.__version__}", f"mlflow=={mlflow.__version__}"],
            )
    version = str(info.registered_model_version)
    tag_version(config, version, {"features": ",".join(meta["features"]), "threshold": repr(meta["threshold"]),
                                  "training_window": str(training.get("window", "")), **(tags or {})})
    return version


def tag_version(config: Config, version: str, tags: dict[str, str]) -> None:
    client = client_for(config)
    for key, value in tags.items():
        client.set_model_version_tag(config.model.name, version, key, str(value))


def set_alias(config: Config, version: str, alias: str = CHAMPION) -> None:
    client_for(config).set_registered_model_alias(config.model.name, alias, version)


def promote(config: Config, version: str) -> None:
    """Point `champion` at the version and record when (`promoted_at`, ISO UTC)."""
    set_alias(config, version, CHAMPION)
    tag_version(config, version, {"promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def finished_version(config: Config, training_window: str, events_version: int | None = None) -> str | None:
    """The newest version a finished retrain registered for this window (and events version, if given)."""
    client = client_for(config)
    query = f"name = '{config.model.name}' AND tags.training_window = '{training_window}'"
    found = [v for v in client.search_model_versions(query)
             if DECISION_TAG in v.tags
             and (events_version is None or v.tags.get("events_version") == str(events_version))]
    return str(max(int(v.version) for v in found)) if found else None


def alias_version(config: Config, alias: str = CHAMPION) -> str | None:
    """The version an alias points to, or None when there is none yet."""
    try:
        return str(client_for(config).get_model_version_by_alias(config.model.name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def load_version(config: Config, version: str) -> LoadedModel:
    """Load one registered version as a Spark IsolationForestModel."""
    client_for(config)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{config.model.name}/{version}").unwrap_python_model()
    meta = pyfunc.meta_
    model = IsolationForestModel(forest=pyfunc.forest_, threshold=float(meta["threshold"]))
    model.setInputCols(list(meta["features"]))
    model._set(numTrees=int(meta["num_trees"]), maxSamples=int(meta["max_samples"]),
               maxFeatures=float(meta.get("max_features", 1.0)), contamination=float(meta["contamination"]))
    return LoadedModel(version=version, model=model, meta=meta)
