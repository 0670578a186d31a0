import subprocess
import sys

import pytest

from lakehouse.config import ConfigError, load_config, parse_config
from tests_support import ROOT, default_toml_dict


def test_default_config_describes_the_fleet():
    config = load_config(ROOT / "conf" / "default.toml", environ={})
    assert config.schema.key == "device_id"
    assert config.schema.event_time == "event_time"
    assert "cpu_pct" in config.features and 5 <= len(config.features) <= 10
    assert config.lake_root.endswith("/lake")
    assert config.tracking_uri == f"sqlite:///{config.lake_root}/mlflow.db"
    assert config.stream.trigger_seconds == 1.0


def test_environment_overrides_lake_and_registry(tmp_path):
    env = {"ISOGUARD_LAKE": str(tmp_path / "elsewhere"), "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}
    config = load_config(ROOT / "conf" / "default.toml", environ=env)
    assert config.lake_root == str(tmp_path / "elsewhere")
    assert config.tracking_uri == "http://127.0.0.1:5000"
    assert config.artifact_location is None


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["model"].update(num_trees=-3), "model.num_trees: must be > 0, got -3"),
    (lambda d: d["model"].update(contamination=0.7), "model.contamination: must be in (0, 0.5)"),
    (lambda d: d["model"].update(num_trees="many"), "model.num_trees: expected int, got 'many'"),
    (lambda d: d["features"].update(columns=["cpu_pct", "nope"]), "features.columns: 'nope' is not one of schema.fields"),
    (lambda d: d["features"].update(columns=["device_id"]), "features.columns: 'device_id' is not numeric"),
    (lambda d: d["schema"].update(key="missing"), "schema.key: 'missing' is not one of schema.fields"),
    (lambda d: d["schema"]["fields"][3].update(type="complex"), "schema.fields[3].type: must be one of"),
    (lambda d: d["schema"]["fields"][3].update(min=5.0, max=1.0), "schema.fields[3]: min 5.0 is greater than max 1.0"),
    (lambda d: d["source"].update(unknown_fields="maybe"), "source.unknown_fields: must be one of reject, ignore"),
    (lambda d: d["schema"].pop("event_time"), "schema.event_time: missing required key"),
    (lambda d: d["source"].update(event_time_bounds="ingest"),
     "source.event_time_bounds: must be one of wall_clock, data, got 'ingest'"),
    (lambda d: d["stream"].update(commit_retries=-1), "stream.commit_retries: must be >= 0, got -1"),
    (lambda d: d["stream"].update(commit_retry_seconds=0), "stream.commit_retry_seconds: must be > 0, got 0.0"),
    (lambda d: d["stream"].update(model_poll_timeout_seconds="soon"),
     "stream.model_poll_timeout_seconds: expected float, got 'soon'"),
    (lambda d: d["stream"].update(backfill_max_rows=0), "stream.backfill_max_rows: must be > 0, got 0"),
])
def test_bad_config_names_the_key_and_the_problem(mutate, message):
    data = default_toml_dict()
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse_config(data, environ={})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unreadable_files_give_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[model\nnum_trees = 3\n")
    with pytest.raises(ConfigError, match="broken.toml: not valid TOML"):
        load_config(broken)


def test_command_line_reports_bad_config_in_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((ROOT / "conf" / "default.toml").read_text().replace("num_trees = 200", "num_trees = 0"))
    result = subprocess.run([sys.executable, "-m", "batch.retrain", "--config", str(bad), "--all"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {bad}: model.num_trees: must be > 0, got 0"
