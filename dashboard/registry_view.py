"""The model's versions as the dashboard shows them: a fresh snapshot, and the text of its cells.

models.registry reads MLflow and names every tag and metric; this module only
keeps its answer fresh and formats it. `model_versions(config)` reads once
(notebooks use it). `RegistryWatcher` keeps a snapshot fresh in a background
thread, so a dashboard refresh never waits for the tracking server.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from lakehouse.config import Config
from models import registry
from models.registry import ModelVersionInfo

# The run metrics the Models page shows, in its column order (a version shows those it has).
DISPLAY_METRICS = tuple(registry.holdout_metric(m) for m in ("roc_auc", "average_precision", "f1", "alert_rate")) \
    + (registry.METRIC_TRAINING_ROWS,)
COUNT_METRICS = frozenset({registry.METRIC_TRAINING_ROWS})  # shown as whole numbers


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


def window_text(version: ModelVersionInfo) -> str:
    """'2026-11-20 (2026-11-20 00:00 to 2026-11-20 23:49)': the window label and its event-time span, as recorded."""
    window = version.training_window
    start, end = _minute(version.training_start), _minute(version.training_end)
    span = f"{start} to {end}" if start and end else ""
    return f"{window} ({span})" if window and span else window or span


def promoted_text(version: ModelVersionInfo) -> str | None:
    """When it became champion (UTC, to the minute), where the retrain recorded it."""
    return _minute(version.promoted_at)


@dataclass(frozen=True)
class Registry:
    """What the registry held at `read_at`, newest version first; `error` says why it could not be read."""
    versions: tuple[ModelVersionInfo, ...] = ()
    read_at: datetime | None = None
    error: str | None = None

    def alias(self, name: str) -> ModelVersionInfo | None:
        return next((v for v in self.versions if name in v.aliases), None)

    @property
    def champion(self) -> ModelVersionInfo | None:
        return self.alias(registry.CHAMPION)

    @property
    def challenger(self) -> ModelVersionInfo | None:
        return self.alias(registry.CHALLENGER)


def model_versions(config: Config) -> Registry:
    """Every registered version of config.model.name, newest first (reads MLflow now)."""
    from mlflow.exceptions import MlflowException  # here, off the dashboard's start: importing MLflow takes seconds

    now = datetime.now(timezone.utc)
    try:
        return Registry(registry.list_versions(config), now)
    except MlflowException as exc:
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
