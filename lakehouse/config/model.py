"""The `[model]` section: the isolation forest's settings.

Why apart: `ModelConfig` is the one place the forest's defaults are written;
the Spark ML Estimator's Params (models/forest.py), the numpy extended forest
(models/extended.py) and the evaluation command read them from here.
"""
from __future__ import annotations

from dataclasses import dataclass

from lakehouse.config.reader import ConfigError, Section


@dataclass(frozen=True)
class ModelConfig:
    name: str = "isoguard"
    # Defaults chosen on the five labelled sets of shared/data (README, Model quality): 200 trees of 128 rows
    # with sloped cuts over two features beat 100 axis-parallel trees of 256 on every set, over 10 seeds.
    num_trees: int = 200
    max_samples: int = 128
    max_features: float = 1.0
    extension_level: int = 1           # features per cut minus one: 0 = axis-parallel, up to features - 1
    contamination: float = 0.01
    seed: int = 42


def parse_model(root: Section, features: tuple[str, ...]) -> ModelConfig:
    m = root.section("model", ModelConfig)
    return ModelConfig(
        name=m.get("name", str),
        num_trees=m.positive("num_trees", int),
        max_samples=m.positive("max_samples", int),
        max_features=_max_features(m),
        extension_level=_extension_level(m, features),
        contamination=_contamination(m),
        seed=m.get("seed", int),
    )


def _contamination(m: Section) -> float:
    value = m.get("contamination", float)
    if not 0.0 < value < 0.5:
        raise ConfigError(f"{m.key('contamination')}: must be in (0, 0.5), got {value!r}")
    return value


def _max_features(m: Section) -> float:
    value = m.positive("max_features", float)
    if value > 1 and not value.is_integer():
        raise ConfigError(f"{m.key('max_features')}: must be a share in (0, 1] or a whole count, got {value!r}")
    return value


def _extension_level(m: Section, features: tuple[str, ...]) -> int:
    """model.extension_level, capped at features - 1: a cut cannot span more features than there are
    (with one feature, the default level 1 is the axis-parallel forest)."""
    value = m.positive("extension_level", int, allow_zero=True)
    return min(value, len(features) - 1)
