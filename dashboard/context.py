"""What every page shares: the config, the lake reader, the registry watcher, and the empty-state texts."""
from __future__ import annotations

from dataclasses import dataclass

from dashboard.data import LakeReader
from dashboard.registry_view import RegistryWatcher
from lakehouse.config import Config


@dataclass
class Context:
    config: Config
    reader: LakeReader
    registry: RegistryWatcher

    @classmethod
    def create(cls, config: Config) -> "Context":
        return cls(config, LakeReader(config), RegistryWatcher(config, interval=config.stream.model_refresh_seconds))

    @property
    def config_arg(self) -> str:
        return self.config.path or "conf/default.toml"

    def no_data(self) -> str:
        return (f"No data yet: start the stream with `make demo` or "
                f"`isoguard stream --config {self.config_arg}`.")

    def no_model(self) -> str:
        return f"No model yet: run `isoguard retrain --config {self.config_arg} --all`."

    def no_scores(self) -> str:
        return (f"No scores yet: events are stored, and scores appear once a model is champion "
                f"(`isoguard retrain --config {self.config_arg} --all`).")
