"""Shared fixtures: one real local SparkSession (with Delta) for the whole run, and temp lakes."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lakehouse.config import Config, load_config
from lakehouse.session import build_spark

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "conf" / "default.toml"
LABELED = ROOT.parent / "shared" / "data" / "labeled"


@pytest.fixture(scope="session")
def spark():
    session = build_spark("isoguard-tests", master="local[2]", conf={
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
    })
    yield session
    session.stop()


@pytest.fixture(scope="session")
def default_config() -> Config:
    return load_config(DEFAULT_CONFIG, environ={})


def config_in(lake: Path, **stream_overrides) -> Config:
    """The default config with its lake (and so its MLflow store) under `lake`."""
    config = load_config(DEFAULT_CONFIG, environ={}).with_lake(str(lake))
    if stream_overrides:
        config = dataclasses.replace(config, stream=dataclasses.replace(config.stream, **stream_overrides))
    return config


@pytest.fixture
def lake_config(tmp_path) -> Config:
    return config_in(tmp_path / "lake")
