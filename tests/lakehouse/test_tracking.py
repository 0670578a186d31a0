"""The MLflow store on a fresh lake: processes that open it together all get a working store."""
import subprocess
import sys

from mlflow.tracking import MlflowClient

from tests_support import ROOT

OPEN_AND_READ = ("import sys; from lakehouse.tracking import store_client; "
                 "store_client(sys.argv[1]).search_registered_models(max_results=1)")


def test_processes_opening_a_fresh_sqlite_store_together_all_succeed(tmp_path):
    # Like the stream, the dashboard and a retrain starting at once on a new lake. Without the lock
    # MLflow's schema migration races and most of them fail ("table _alembic_tmp_... already exists").
    uri = f"sqlite:///{tmp_path / 'lake' / 'mlflow.db'}"
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_AND_READ, uri], cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    failures = [err[-500:] for p in procs for err in [p.communicate(timeout=120)[1]] if p.returncode != 0]
    assert failures == []
    MlflowClient(tracking_uri=uri).create_registered_model("works")
    assert [m.name for m in MlflowClient(tracking_uri=uri).search_registered_models()] == ["works"]
