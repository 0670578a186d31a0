"""Helpers shared by tests (importable because pytest puts tests/ on the path via conftest's rootdir)."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def default_toml_dict() -> dict:
    with open(ROOT / "conf" / "default.toml", "rb") as fh:
        return tomllib.load(fh)
