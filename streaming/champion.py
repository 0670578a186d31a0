"""Keeps the stream's scoring model in step with MLflow's `champion` alias.

A background thread polls the alias; a new version is loaded off the scoring
path and swapped in atomically, so the next micro-batch uses it. A version
whose features differ from the config is refused (and not retried); an
unreachable MLflow keeps the current model and is retried at the next poll.
"""
from __future__ import annotations

import logging
import threading

from lakehouse.config import Config
from models import registry
from models.registry import LoadedModel

log = logging.getLogger(__name__)


class ChampionWatcher:
    def __init__(self, config: Config, refresh_seconds: float | None = None):
        self.config = config
        self.refresh_seconds = refresh_seconds or config.stream.model_refresh_seconds
        self._current: LoadedModel | None = None
        self._refused: dict[str, str] = {}
        self._said_waiting = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def current(self) -> LoadedModel | None:
        return self._current

    def poll(self) -> LoadedModel | None:
        """Check the alias once; load and swap in a new champion if there is one."""
        try:
            version = registry.alias_version(self.config)
            if version is None:
                if not self._said_waiting:
                    log.warning("no champion model yet: events are stored but not scored until the first retrain registers one")
                    self._said_waiting = True
                return self._current
            if version in self._refused:
                self.last_error = self._refused[version]
                return self._current
            if self._current and self._current.version == version:
                self.last_error = None
                return self._current
            loaded = registry.load_version(self.config, version)
            if loaded.features != list(self.config.features):
                self._refused[version] = (f"model version {version} refused: features {loaded.features} "
                                          f"differ from the config's {list(self.config.features)}")
                self.last_error = self._refused[version]
                log.error(self.last_error)
                return self._current
            self._current = loaded
            self.last_error = None
            log.warning("scoring with model %s version %s (threshold %.4f)", self.config.model.name, version, loaded.threshold)
        except Exception as exc:  # MLflow down, network, corrupt artifact: keep scoring with what we have
            self.last_error = f"could not check the champion model: {exc}"
            log.warning(self.last_error.splitlines()[0])
        return self._current

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            self.poll()

    def start(self) -> "ChampionWatcher":
        self.poll()
        self._thread = threading.Thread(target=self._run, name="champion-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
