"""The MLflow store: one client factory that is safe when several processes open a fresh store together."""
from __future__ import annotations

import fcntl
import threading
from pathlib import Path

from mlflow.tracking import MlflowClient

_PREPARED: set[str] = set()
_PREPARING = threading.Lock()
SQLITE = "sqlite:///"


def store_client(tracking_uri: str) -> MlflowClient:
    """An MlflowClient whose store is created and migrated, once per process, under an inter-process lock.

    MLflow creates and migrates a SQLite store when a process first opens it; the
    stream, the dashboard and a retrain starting together on a fresh lake would
    otherwise race in that migration ("table _alembic_tmp_... already exists").
    """
    if tracking_uri.startswith(SQLITE) and tracking_uri not in _PREPARED:
        with _PREPARING:
            if tracking_uri not in _PREPARED:
                db = Path(tracking_uri[len(SQLITE):])
                db.parent.mkdir(parents=True, exist_ok=True)
                with open(f"{db}.lock", "w") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
                    MlflowClient(tracking_uri=tracking_uri).search_registered_models(max_results=1)  # both stores
                _PREPARED.add(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri)
