"""Keeps the stream's scoring model in step with MLflow's `champion` alias.

A background thread polls the alias; a new version is loaded off the scoring
path and swapped in atomically, so the next micro-batch uses it. A version
whose features differ from the config is refused (and not retried); an
unreachable MLflow keeps the current model and is retried at the next poll.

Starting does not wait on MLflow's retries: `start()` waits only for the first
check, which fails within the short timeout below when MLflow is down (it took
4 min 25 s of urllib3 retries before), and `start(wait=False)` not even for
that. Events stored while there is no model are scored once one arrives
(streaming/unscored.py).

Each check talks to MLflow with a short timeout and no urllib3 retries
(`stream.model_poll_timeout_seconds`; MLflow's defaults retry for about four
minutes), so an outage shows in `last_error` (stream_stats.model_status) within
one poll interval plus that timeout; the next poll is the retry. The scoring
path never calls MLflow. MLflow reads these settings from the environment per
request, so they are set for the duration of a check, under a lock: another
thread of the same process calling MLflow during a check (nothing in the
streaming job does) would see them too.
"""
from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager

from pyspark import SparkContext
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.config import Config
from models import registry
from models.registry import LoadedModel

log = logging.getLogger(__name__)
_ENV_LOCK = threading.Lock()


@contextmanager
def short_mlflow_requests(timeout_seconds: float):
    """MLflow HTTP requests made inside fail after `timeout_seconds`, without urllib3 retries."""
    settings = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, int(round(timeout_seconds))))}
    with _ENV_LOCK:
        saved = {name: os.environ.get(name) for name in settings}
        os.environ.update(settings)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


class ChampionWatcher:
    def __init__(self, config: Config, refresh_seconds: float | None = None):
        self.config = config
        self.refresh_seconds = refresh_seconds or config.stream.model_refresh_seconds
        self._current: LoadedModel | None = None
        self._refused: dict[str, str] = {}
        self._said_waiting = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first_done = threading.Event()
        self.last_error: str | None = None

    def current(self) -> LoadedModel | None:
        return self._current

    def poll(self) -> LoadedModel | None:
        """Check the alias once, with short MLflow timeouts; load and swap in a new champion if there is one."""
        with short_mlflow_requests(self.config.stream.model_poll_timeout_seconds):
            return self._poll()

    def _poll(self) -> LoadedModel | None:
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
        try:
            self.poll()
        finally:
            self._first_done.set()
        while not self._stop.wait(self.refresh_seconds):
            self.poll()

    def start(self, wait: bool = True) -> "ChampionWatcher":
        """Start checking in the background; with `wait`, return once the first check is over.

        The first check is bounded by the poll's short MLflow timeouts (an MLflow that is
        down fails it in about `stream.model_poll_timeout_seconds`), so waiting for it
        delays a start by seconds at most; `wait=False` returns at once.
        """
        self._thread = threading.Thread(target=self._run, name="champion-watcher", daemon=True)
        self._thread.start()
        if wait:
            self._first_done.wait()
        return self

    def wait_first(self, timeout: float | None = None) -> bool:
        """Wait for the first check to finish (True) or the timeout to pass (False)."""
        return self._first_done.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
