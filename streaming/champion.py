"""Keeps the stream's scoring model in step with MLflow's `champion` alias.

A background thread polls the alias; a new version is loaded off the scoring
path and swapped in atomically, so the next micro-batch uses it. A version
whose features differ from the config is refused (and not retried); an
unreachable MLflow keeps the current model and is retried at the next poll.
"""
from __future__ import annotations

import logging
import threading

from pyspark import SparkContext
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

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
            problem = self._trial_score(loaded)
            if problem:
                self._refused[version] = f"model version {version} refused: it cannot score: {problem}"
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

    @staticmethod
    def _trial_score(loaded: LoadedModel) -> str | None:
        """Score two rows before swapping in: a model that cannot score is refused, not handed to the stream.

        It also starts the Python workers and unpickles the forest in them off the
        scoring path, so the first micro-batch with this model does not pay for it.
        """
        if SparkContext._active_spark_context is None:  # no Spark in this process (e.g. a notebook check)
            return None
        try:
            spark = SparkSession.builder.getOrCreate()
            workers = spark.sparkContext.defaultParallelism
            rows = spark.range(0, workers, 1, workers).select(*[F.lit(0.0).alias(name) for name in loaded.features])
            loaded.model.transform(rows).write.format("noop").mode("overwrite").save()
        except Exception as exc:  # noqa: BLE001 - any failure means this model must not score the stream
            return str(exc).splitlines()[0][:300]
        return None

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
