"""The MLflow side of a model: log, register, point aliases, load, list versions.

A registered version carries its feature list, threshold and training window
(in `isoguard.json` and as version tags) and loads without Spark:

    model = mlflow.pyfunc.load_model("models:/isoguard@champion")
    model.predict(pandas_frame)   # -> anomaly_score, is_anomaly

This module holds the registry's vocabulary: the alias, version-tag and run-metric
names below are the only place they are spelled, and readers get typed objects
(`ModelVersionInfo`, `LoadedModel`), not MLflow entities keyed by strings.

The pyfunc is logged from code (models.pyfunc_code, MLflow's "models from
code"), not cloudpickled. Versions logged before hold a pickled
`models.registry.IsoguardPyfunc`; the name still resolves here so they load.

Importing this module is cheap: MLflow, scikit-learn and Spark ML are imported
by the functions that use them (about 3 s on first use), so the dashboard can
read the vocabulary at start and MLflow only in its watcher thread.
"""
from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from lakehouse.config import Config

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from models.forest import IsolationForestModel

# Aliases of the registered model.
CHAMPION = "champion"
CHALLENGER = "challenger"

# Version tags.
TAG_FEATURES = "features"  # comma-separated, in scoring order
TAG_THRESHOLD = "threshold"  # repr of the float
TAG_TRAINING_WINDOW = "training_window"  # the retrain's window label: a date, or batch.window.ALL
TAG_TRAINING_START = "training_start"  # ISO UTC event time of the first and last training event
TAG_TRAINING_END = "training_end"
TAG_EVENTS_VERSION = "events_version"  # Delta version of `events` the window was read at
TAG_HOLDOUT_START = "holdout_start"
TAG_THRESHOLD_SOURCE = "threshold_source"
TAG_GATE_DECISION = "gate_decision"  # written last by a retrain: a version without it belongs to a run that did not finish
TAG_PROMOTED_AT = "promoted_at"  # ISO UTC, when `champion` moved to the version

# Run metrics of the version's run.
METRIC_THRESHOLD = "threshold"
METRIC_TRAINING_ROWS = "training_rows"
METRIC_SAMPLE_ROWS = "sample_rows"
METRIC_THRESHOLD_LABELLED_EVENTS = "threshold_labelled_events"
METRIC_THRESHOLD_LABELLED_ANOMALIES = "threshold_labelled_anomalies"
METRIC_SCORE_SHIFT = "score_shift"
METRIC_CHAMPION_SCORE_SHIFT = "champion_score_shift"

# Run params that name the same things as the tags above.
PARAM_TRAINING_WINDOW, PARAM_EVENTS_VERSION = TAG_TRAINING_WINDOW, TAG_EVENTS_VERSION

# What register_model hands mlflow.pyfunc.log_model as python_model: the path of the code file (models from code).
PYFUNC_MODEL = str(Path(__file__).with_name("pyfunc_code.py"))
log = logging.getLogger(__name__)


def __getattr__(name: str):
    """`models.registry.IsoguardPyfunc`, the name versions pickled before models from code were saved under.

    Resolved on first use, so that importing the vocabulary above (the dashboard
    does, at start) does not import MLflow, scikit-learn and Spark ML (seconds).
    """
    if name == "IsoguardPyfunc":
        from models.pyfunc import IsoguardPyfunc

        return IsoguardPyfunc
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def holdout_metric(name: str, champion: bool = False) -> str:
    """The run metric of a holdout report's number `name` (models.holdout_metrics.HoldoutReport.metrics):
    `holdout_<name>` for the new model, `champion_holdout_<name>` for the champion on the same events."""
    return f"{'champion_' if champion else ''}holdout_{name}"


def excluded_metric(reason: str) -> str:
    """The run metric counting training rows excluded for `reason` (batch.hygiene.REASONS, or `total`)."""
    return f"excluded_{reason}"


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered version as the registry holds it (read by `list_versions`).

    `tags` are the version's tags and `metrics` its run's metrics, by the names
    above; the properties read the ones every caller needs.
    """

    version: str
    aliases: tuple[str, ...]
    registered_at: datetime
    run_id: str | None
    tags: Mapping[str, str]
    metrics: Mapping[str, float]

    @property
    def threshold(self) -> float | None:
        return float(self.tags[TAG_THRESHOLD]) if TAG_THRESHOLD in self.tags else None

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(f for f in self.tags.get(TAG_FEATURES, "").split(",") if f)

    @property
    def training_window(self) -> str:
        """The retrain's window label ('' when none was recorded)."""
        return self.tags.get(TAG_TRAINING_WINDOW, "")

    @property
    def training_start(self) -> str | None:
        return self.tags.get(TAG_TRAINING_START)

    @property
    def training_end(self) -> str | None:
        return self.tags.get(TAG_TRAINING_END)

    @property
    def events_version(self) -> int | None:
        value = self.tags.get(TAG_EVENTS_VERSION, "")
        return int(value) if value.lstrip("-").isdigit() else None

    @property
    def gate_decision(self) -> str | None:
        return self.tags.get(TAG_GATE_DECISION)

    @property
    def promoted_at(self) -> str | None:
        """When `champion` moved to it (ISO UTC), where the retrain recorded it."""
        return self.tags.get(TAG_PROMOTED_AT)

    @property
    def finished(self) -> bool:
        """Its retrain ran to the end (the gate decision is its last write)."""
        return self.gate_decision is not None


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
    import mlflow

    from lakehouse.tracking import store_client

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

    `tags` become version tags next to TAG_FEATURES, TAG_THRESHOLD and
    TAG_TRAINING_WINDOW; `artifacts` (run-relative path -> matplotlib figure or
    dict) are logged to the same run. The pyfunc is logged from code (PYFUNC_MODEL).
    """
    import joblib
    import mlflow
    import numpy as np
    import pandas as pd
    import sklearn

    from models.pyfunc import FOREST_ARTIFACT, META_ARTIFACT

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
            mlflow.log_metrics({METRIC_THRESHOLD: meta["threshold"], **metrics})
            for path, artifact in (artifacts or {}).items():
                (mlflow.log_dict if isinstance(artifact, dict) else mlflow.log_figure)(artifact, path)
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=PYFUNC_MODEL,
                artifacts={FOREST_ARTIFACT: str(forest_path), META_ARTIFACT: str(meta_path)},
                registered_model_name=config.model.name,
                pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}",
                                  f"pandas=={pd.__version__}", f"mlflow=={mlflow.__version__}"],
            )
    version = str(info.registered_model_version)
    tag_version(config, version, {TAG_FEATURES: ",".join(meta["features"]), TAG_THRESHOLD: repr(meta["threshold"]),
                                  TAG_TRAINING_WINDOW: str(training.get("window", "")), **(tags or {})})
    return version


def tag_version(config: Config, version: str, tags: dict[str, str]) -> None:
    client = client_for(config)
    for key, value in tags.items():
        client.set_model_version_tag(config.model.name, version, key, str(value))


def set_alias(config: Config, version: str, alias: str = CHAMPION) -> None:
    client_for(config).set_registered_model_alias(config.model.name, alias, version)


def promote(config: Config, version: str) -> None:
    """Point `champion` at the version and record when (TAG_PROMOTED_AT, ISO UTC)."""
    set_alias(config, version, CHAMPION)
    tag_version(config, version, {TAG_PROMOTED_AT: datetime.now(timezone.utc).isoformat(timespec="seconds")})


def finished_version(config: Config, training_window: str, events_version: int | None = None) -> str | None:
    """The newest version a finished retrain registered for this window (and events version, if given)."""
    client = client_for(config)
    query = f"name = '{config.model.name}' AND tags.{TAG_TRAINING_WINDOW} = '{training_window}'"
    found = [info for info in map(_info, client.search_model_versions(query))
             if info.finished and (events_version is None or info.events_version == events_version)]
    return max(found, key=lambda info: int(info.version)).version if found else None


def _info(entity, aliases: tuple[str, ...] = (), metrics: Mapping[str, float] | None = None) -> ModelVersionInfo:
    """A ModelVersionInfo from MLflow's ModelVersion entity."""
    return ModelVersionInfo(
        version=str(entity.version), aliases=aliases,
        registered_at=datetime.fromtimestamp(entity.creation_timestamp / 1000, timezone.utc),
        run_id=entity.run_id or None, tags=dict(entity.tags or {}), metrics=dict(metrics or {}))


def _no_store_yet(config: Config) -> bool:
    """A local SQLite store that does not exist yet: reading it should not create it."""
    uri = config.tracking_uri
    return uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists()


def list_versions(config: Config) -> tuple[ModelVersionInfo, ...]:
    """Every registered version of config.model.name with its aliases, tags and run metrics, newest first.

    Empty when nothing is registered yet; a local SQLite store that does not exist
    is not created. Reads MLflow now: one search plus one run read per version.
    Raises MlflowException when the registry cannot be read.
    """
    if _no_store_yet(config):
        return ()
    from mlflow.exceptions import MlflowException

    from lakehouse.tracking import store_client

    client, name = store_client(config.tracking_uri), config.model.name
    try:
        aliases: dict[str, list[str]] = {}
        for alias, version in client.get_registered_model(name).aliases.items():
            aliases.setdefault(str(version), []).append(alias)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return ()
        raise
    found = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version), reverse=True)
    return tuple(_info(v, tuple(sorted(aliases.get(str(v.version), []))),
                       client.get_run(v.run_id).data.metrics if v.run_id else None) for v in found)


def alias_version(config: Config, alias: str = CHAMPION) -> str | None:
    """The version an alias points to, or None when there is none yet."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client_for(config).get_model_version_by_alias(config.model.name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def load_version(config: Config, version: str) -> LoadedModel:
    """Load one registered version as a Spark IsolationForestModel."""
    import mlflow

    from models.forest import IsolationForestModel

    client_for(config)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{config.model.name}/{version}").unwrap_python_model()
    meta = pyfunc.meta_
    model = IsolationForestModel(forest=pyfunc.forest_, threshold=float(meta["threshold"]))
    model.setInputCols(list(meta["features"]))
    model._set(numTrees=int(meta["num_trees"]), maxSamples=int(meta["max_samples"]),
               maxFeatures=float(meta.get("max_features", 1.0)), contamination=float(meta["contamination"]))
    return LoadedModel(version=version, model=model, meta=meta)
