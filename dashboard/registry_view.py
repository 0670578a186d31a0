"""The model's versions as MLflow holds them: metrics, aliases, training window, gate decisions.

`model_versions(config)` reads MLflow once (notebooks use it). `RegistryWatcher`
keeps a snapshot fresh in a background thread, so a dashboard refresh never
waits for the tracking server.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from lakehouse.config import Config

TAGS = ("training_window", "training_start", "training_end", "events_version", "gate_decision", "promoted_at",
        "threshold", "features")
METRICS = ("holdout_roc_auc", "holdout_average_precision", "holdout_f1", "holdout_alert_rate", "training_rows")


def _minute(stamp: str | None) -> str | None:
    """An ISO timestamp tag to the minute, in UTC ('2026-11-20 23:49'); other text as it is."""
    if not stamp:
        return stamp
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment
    return f"{moment:%Y-%m-%d %H:%M}"


@dataclass(frozen=True)
class ModelVersion:
    version: str
    aliases: tuple[str, ...]
    registered_at: datetime
    tags: dict[str, str]
    metrics: dict[str, float]

    @property
    def training_window(self) -> str:
        window = self.tags.get("training_window", "")
        start, end = (_minute(self.tags.get(t)) for t in ("training_start", "training_end"))
        span = f"{start} to {end}" if start and end else ""
        return f"{window} ({span})" if window and span else window or span

    @property
    def promoted_at(self) -> str | None:
        """When it became champion (UTC, to the minute), where the retrain recorded it."""
        return _minute(self.tags.get("promoted_at"))


@dataclass(frozen=True)
class Registry:
    """What the registry held at `read_at`; `error` says why it could not be read."""
    versions: tuple[ModelVersion, ...] = ()
    read_at: datetime | None = None
    error: str | None = None

    def alias(self, name: str) -> ModelVersion | None:
        return next((v for v in self.versions if name in v.aliases), None)


def _no_store_yet(config: Config) -> bool:
    """A local SQLite store that does not exist yet: read nothing rather than create it."""
    uri = config.tracking_uri
    return uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists()


def model_versions(config: Config) -> Registry:
    """Every registered version of config.model.name, newest first (reads MLflow now)."""
    now = datetime.now(timezone.utc)
    if _no_store_yet(config):
        return Registry(read_at=now)
    from mlflow.exceptions import MlflowException

    from lakehouse.tracking import store_client

    client = store_client(config.tracking_uri)
    name = config.model.name
    try:
        aliases: dict[str, list[str]] = {}
        for alias, version in client.get_registered_model(name).aliases.items():
            aliases.setdefault(str(version), []).append(alias)
        found = client.search_model_versions(f"name='{name}'")
        versions = []
        for v in sorted(found, key=lambda v: int(v.version), reverse=True):
            metrics = client.get_run(v.run_id).data.metrics if v.run_id else {}
            versions.append(ModelVersion(
                version=str(v.version), aliases=tuple(sorted(aliases.get(str(v.version), []))),
                registered_at=datetime.fromtimestamp(v.creation_timestamp / 1000, timezone.utc),
                tags={k: v.tags[k] for k in TAGS if k in v.tags},
                metrics={k: metrics[k] for k in METRICS if k in metrics}))
        return Registry(tuple(versions), now)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return Registry(read_at=now)
        return Registry(read_at=now, error=str(exc).splitlines()[0])


class RegistryWatcher:
    """Re-reads the registry every `interval` seconds in a daemon thread, started by the first `snapshot()`,
    which never blocks."""

    def __init__(self, config: Config, interval: float = 10.0):
        self.config, self.interval = config, interval
        self._snapshot: Registry | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> Registry | None:
        """The latest read, or None before the first read finished."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="registry-watcher", daemon=True)
                self._thread.start()
        return self._snapshot

    def _run(self) -> None:
        while True:
            try:
                self._snapshot = model_versions(self.config)
            except Exception as exc:  # an unreachable server must not stop the watcher: show why, try again
                reason = str(exc).splitlines()[0] if str(exc) else ""
                self._snapshot = Registry(read_at=datetime.now(timezone.utc), error=f"{type(exc).__name__}: {reason}")
            time.sleep(self.interval)
