"""CI for the notebooks: `pytest --nbmake notebooks/` runs each one against a small sample lake built here.

The lake (simulation.sample_lake: every table plus an MLflow store) is built once, on
the first notebook, in a temp dir; each notebook's kernel gets it through
ISOGUARD_LAKE, exactly as a user points the notebooks at their own lake.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_lake: dict[str, str] = {}
_saved: dict[str, str | None] = {}
OVERRIDES = ("ISOGUARD_LAKE", "ISOGUARD_CONFIG", "MLFLOW_TRACKING_URI")


def sample_lake() -> str:
    if "root" not in _lake:
        from simulation.sample_lake import build
        from lakehouse.config import load_config

        _lake["dir"] = tempfile.mkdtemp(prefix="isoguard-notebooks-")
        config = load_config(ROOT / "conf" / "default.toml", environ={}).with_lake(str(Path(_lake["dir"]) / "lake"))
        build(config)
        _lake["root"] = config.lake_root
    return _lake["root"]


def pytest_runtest_setup(item):
    if item.path.suffix != ".ipynb":
        return
    _saved.update({name: os.environ.get(name) for name in OVERRIDES})
    os.environ["ISOGUARD_LAKE"] = sample_lake()
    os.environ["ISOGUARD_CONFIG"] = str(ROOT / "conf" / "default.toml")
    os.environ.pop("MLFLOW_TRACKING_URI", None)   # the sample's own store, under the lake


def pytest_runtest_teardown(item):
    if item.path.suffix != ".ipynb":
        return
    for name, value in _saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_unconfigure(config):
    if "dir" in _lake:
        shutil.rmtree(_lake["dir"], ignore_errors=True)
