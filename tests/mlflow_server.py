"""A real `mlflow server` (SQLite backend, served artifacts) on a free 127.0.0.1 port, stopped and started by tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout=120, what="condition"):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


class MlflowServer:
    def __init__(self, root: Path):
        self.root, self.port, self.process = root, free_port(), None
        root.mkdir(parents=True, exist_ok=True)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def start(self) -> "MlflowServer":
        log = open(self.root / "server.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
             "--artifacts-destination", str(self.root / "artifacts")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: self.healthy() or self.process.poll() is not None, what="mlflow server to start")
        assert self.process.poll() is None, (self.root / "server.log").read_text()[-2000:]
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own process group: the server and its worker
            self.process.wait(timeout=60)
        wait_for(lambda: not self.healthy(), what="mlflow server to stop")


def register_champion(config, seed: int) -> str:
    """A small champion (10 scikit-learn trees on 300 rows around 50) registered and promoted in the config's store."""
    import numpy as np
    from sklearn.ensemble import IsolationForest as SkIsolationForest

    from models import registry
    from models.forest import IsolationForestModel

    features = list(config.features)
    X = np.random.default_rng(seed).normal(50, 5, size=(300, len(features)))
    forest = SkIsolationForest(n_estimators=10, max_samples=64, random_state=seed).fit(X)
    model = IsolationForestModel(forest=forest, threshold=0.6).setInputCols(features)
    version = registry.register_model(model, config, {"window": f"seed {seed}"}, {registry.METRIC_TRAINING_ROWS: 300})
    registry.promote(config, version)
    return version
