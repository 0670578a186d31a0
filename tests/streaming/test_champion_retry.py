"""An unreachable MLflow keeps the current model scoring; the watcher retries and takes the new champion later.

A real `mlflow server` (SQLite backend, served artifacts) on a free 127.0.0.1
port is stopped while the watcher polls and started again on the same port.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from conftest import config_in
from mlflow_server import MlflowServer, register_champion, wait_for
from streaming.champion import ChampionWatcher


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail fast while it is down; the watcher retries
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    running = MlflowServer(tmp_path / "mlflow").start()
    yield running
    running.stop()




def test_unreachable_mlflow_keeps_the_current_model_and_the_new_champion_arrives_when_it_is_back(server, tmp_path):
    config = dataclasses.replace(config_in(tmp_path / "lake"), mlflow_tracking_uri=server.uri)
    v1 = register_champion(config, seed=1)
    watcher = ChampionWatcher(config, refresh_seconds=0.2).start()
    frame = pd.DataFrame(np.full((3, len(config.features)), 50.0), columns=list(config.features))
    try:
        assert watcher.current().version == v1 and watcher.last_error is None

        server.stop()
        wait_for(lambda: watcher.last_error is not None, what="a failed poll")
        assert watcher.last_error.startswith("could not check the champion model")
        assert watcher.current().version == v1, "MLflow is down: keep scoring with what we have"
        assert watcher.current().model.score_pandas(frame).shape == (3,)

        server.start()  # same port, same store
        v2 = register_champion(config, seed=2)
        wait_for(lambda: watcher.current().version == v2, what="the watcher to take the new champion")
        assert watcher.last_error is None
    finally:
        watcher.stop()
