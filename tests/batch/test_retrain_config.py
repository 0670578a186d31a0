"""The [retrain] section (and model.max_features): defaults, and one-line errors naming the key."""
import pytest

from lakehouse.config import ConfigError, RetrainConfig, parse_config
from tests_support import default_toml_dict


def test_the_default_file_spells_out_the_defaults():
    config = parse_config(default_toml_dict(), environ={})
    assert config.retrain == RetrainConfig()
    assert config.model.max_features == 1.0


def test_a_file_without_the_section_gets_the_defaults():
    data = default_toml_dict()
    data.pop("retrain")
    assert parse_config(data, environ={}).retrain == RetrainConfig()


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.update(holdout_fraction=1.0), "retrain.holdout_fraction: must be in (0, 1), got 1.0"),
    (lambda r: r.update(primary_metric="accuracy"), "retrain.primary_metric: must be one of average_precision, roc_auc, f1"),
    (lambda r: r.update(max_metric_drop=-0.1), "retrain.max_metric_drop: must be >= 0"),
    (lambda r: r.update(max_alert_rate=1.5), "retrain.max_alert_rate: must be in [0, 1], got 1.5"),
    (lambda r: r.update(min_alert_rate=0.2, max_alert_rate=0.1),
     "retrain.min_alert_rate: 0.2 is greater than retrain.max_alert_rate 0.1"),
    (lambda r: r.update(schedule_at="25:00"), "retrain.schedule_at: expected HH:MM (local time), got '25:00'"),
    (lambda r: r.update(schedule_at="0:5"), "retrain.schedule_at: expected HH:MM"),
    (lambda r: r.update(vacuum_retention_hours=-1), "retrain.vacuum_retention_hours: must be >= 0"),
    (lambda r: r.update(exclude_score_margin="far"), "retrain.exclude_score_margin: expected float, got 'far'"),
])
def test_bad_retrain_settings_name_the_key(mutate, message):
    data = default_toml_dict()
    mutate(data["retrain"])
    with pytest.raises(ConfigError) as err:
        parse_config(data, environ={})
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("value, ok", [(0.5, True), (3, True), (0, False), (2.5, False)])
def test_model_max_features_is_a_share_or_a_count(value, ok):
    data = default_toml_dict()
    data["model"]["max_features"] = value
    if ok:
        assert parse_config(data, environ={}).model.max_features == value
    else:
        with pytest.raises(ConfigError, match="model.max_features"):
            parse_config(data, environ={})


def test_the_old_pr_auc_gate_metric_is_read_as_average_precision_with_a_warning(capsys):
    data = default_toml_dict()
    data["retrain"]["primary_metric"] = "pr_auc"
    assert parse_config(data, environ={}).retrain.primary_metric == "average_precision"
    warning = capsys.readouterr().err.strip()
    assert warning.startswith("warning: retrain.primary_metric: 'pr_auc' is now 'average_precision'")
    assert "\n" not in warning


def test_extension_level_is_capped_at_features_minus_one():
    data = default_toml_dict()
    data["features"]["columns"] = ["cpu_pct"]
    assert parse_config(data, environ={}).model.extension_level == 0, "one feature: axis-parallel cuts"
    data["features"]["columns"] = ["cpu_pct", "mem_pct", "temp_c"]
    data["model"]["extension_level"] = 5
    assert parse_config(data, environ={}).model.extension_level == 2
