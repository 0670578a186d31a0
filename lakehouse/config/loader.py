"""The whole config: `Config` (every section plus the lake root and MLflow), and reading it from TOML.

Why apart: this is the only module that knows every section; it parses them in
turn, then refuses any key no section read (a misspelling would otherwise be
ignored and its default used in silence). Environment variables override two
settings, ISOGUARD_LAKE (lake.root) and MLFLOW_TRACKING_URI
(mlflow.tracking_uri); the file's values are still checked when overridden.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from lakehouse.config.alerts import AlertsConfig, parse_alerts
from lakehouse.config.dashboard import DashboardConfig, parse_dashboard
from lakehouse.config.model import ModelConfig, parse_model
from lakehouse.config.reader import ConfigError, Section
from lakehouse.config.retrain import RetrainConfig, parse_retrain
from lakehouse.config.schema import EventSchema, parse_features, parse_schema
from lakehouse.config.source import SourceConfig, parse_source
from lakehouse.config.stream import StreamConfig, parse_stream
from lakehouse.config.summaries import SummariesConfig, parse_summaries


@dataclass(frozen=True)
class Config:
    schema: EventSchema
    features: tuple[str, ...]
    lake_root: str = "lake"               # [lake] root
    source: SourceConfig = field(default_factory=SourceConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    summaries: SummariesConfig = field(default_factory=SummariesConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    mlflow_tracking_uri: str = ""         # [mlflow] tracking_uri; empty: SQLite under the lake root
    mlflow_experiment: str = "isoguard"   # [mlflow] experiment
    path: str = ""

    def lake_path(self, relative: str) -> str:
        """A path under the lake root, unless `relative` is already absolute or a URI."""
        if "://" in relative or os.path.isabs(relative):
            return relative
        return f"{self.lake_root.rstrip('/')}/{relative}"

    @property
    def landing_path(self) -> str:
        return self.lake_path(self.source.landing)

    @property
    def checkpoint_path(self) -> str:
        return self.lake_path(self.stream.checkpoint)

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.lake_path('mlflow.db')}"

    @property
    def artifact_location(self) -> str | None:
        """Where MLflow keeps artifacts for the default local store; None defers to the server."""
        if self.mlflow_tracking_uri:
            return None
        return Path(self.lake_path("mlartifacts")).as_uri()

    def with_lake(self, root: str) -> "Config":
        return replace(self, lake_root=_absolute(root))


def _absolute(path: str) -> str:
    return path if "://" in path else str(Path(path).resolve())


def parse_sections(root: Section, path: str, environ: dict) -> Config:
    """A Config from the file's table `root`, every section read (and so known to `root.check_known`).

    Sections are read in the order of conf/default.toml, which is the order of
    the README's settings table; the environment overrides the lake root and the
    tracking URI after the file's values were checked.
    """
    lake_root = root.section("lake", Config).get("root", str, field="lake_root")
    source, stream = parse_source(root), parse_stream(root)
    schema = parse_schema(root)
    features = parse_features(root, schema)
    model, retrain = parse_model(root, features), parse_retrain(root)
    summaries, alerts = parse_summaries(root), parse_alerts(root)
    ml = root.section("mlflow", Config)
    tracking_uri = ml.get("tracking_uri", str, field="mlflow_tracking_uri")
    experiment = ml.get("experiment", str, field="mlflow_experiment")
    dashboard = parse_dashboard(root)
    return Config(
        schema=schema, features=features, lake_root=_absolute(environ.get("ISOGUARD_LAKE") or lake_root),
        source=source, stream=stream, model=model, retrain=retrain, summaries=summaries, alerts=alerts,
        dashboard=dashboard, mlflow_tracking_uri=environ.get("MLFLOW_TRACKING_URI") or tracking_uri,
        mlflow_experiment=experiment, path=path)


def parse_config(data: dict, path: str = "<config>", environ: dict | None = None) -> Config:
    """Build a Config from parsed TOML; raises ConfigError naming the offending key.

    A key or table no section knows (a misspelling) is an error too:
    `unknown setting model.num_tress (did you mean model.num_trees?)`.
    """
    root = Section(data, "")
    config = parse_sections(root, path, os.environ if environ is None else environ)
    root.check_known()
    return config


def load_config(path: str | os.PathLike, environ: dict | None = None) -> Config:
    """Read a TOML config file; every problem is a ConfigError with a one-line message."""
    path = str(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        return parse_config(data, path, environ)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None

