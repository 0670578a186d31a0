"""Each setting's default is written once, on its dataclass: the parser, conf/default.toml and the README agree."""
import dataclasses
import re

from lakehouse.config import (AlertsConfig, Config, DashboardConfig, KafkaSourceConfig, ModelConfig, RetrainConfig,
                              SourceConfig, StreamConfig, SummariesConfig, load_config, parse_config)
from lakehouse.config.reference import TABLE_END, TABLE_START, _MINIMAL, setting_defaults, settings_table
from tests_support import ROOT

README = (ROOT / "README.md").read_text()
# "`summaries.window`, default 1 minute", "`alerts.gap` apart (default 5 minutes)": a dotted setting, then its default.
STATED_DEFAULT = re.compile(r"`([a-z_]+(?:\.[a-z_]+)+)`([^`.]{0,30}?)\bdefault:? [\"`]?([^\"`);,]+)", re.S)


def test_a_config_without_optional_settings_gets_the_dataclass_defaults():
    config = parse_config(_MINIMAL, environ={})
    expected = Config(schema=config.schema, features=config.features, path=config.path)
    assert dataclasses.replace(config, lake_root=expected.lake_root) == expected


def test_the_default_config_file_states_the_defaults():
    """conf/default.toml sets every setting to its default, except the Kafka broker and topic it shows."""
    config = load_config(ROOT / "conf" / "default.toml", environ={})
    kafka = dataclasses.replace(KafkaSourceConfig(), bootstrap_servers="127.0.0.1:9092", topic="isoguard-events")
    assert config.source == dataclasses.replace(SourceConfig(), kafka=kafka)
    assert (config.stream, config.model, config.retrain) == (StreamConfig(), ModelConfig(), RetrainConfig())
    assert (config.summaries, config.alerts, config.dashboard) == (SummariesConfig(), AlertsConfig(), DashboardConfig())
    assert config.lake_root.endswith("/" + Config.lake_root)
    assert (config.mlflow_tracking_uri, config.mlflow_experiment) == (Config.mlflow_tracking_uri,
                                                                      Config.mlflow_experiment)


def test_the_readme_settings_table_is_generated_from_the_dataclasses():
    start, end = README.index(TABLE_START), README.index(TABLE_END) + len(TABLE_END)
    assert README[start:end] == settings_table(), \
        "the README's settings table is stale: paste `python -m lakehouse.config.reference` over it"


def test_defaults_stated_in_the_readme_prose_match_the_dataclasses():
    stated = {m[1]: " ".join(m[3].split()) for m in STATED_DEFAULT.finditer(README)}
    assert len(stated) >= 4, stated  # the pattern still finds the README's statements
    defaults = setting_defaults()
    wrong = {key: (value, defaults.get(key)) for key, value in stated.items() if f'"{value}"' != defaults.get(key)
             and value != defaults.get(key)}
    assert not wrong, f"README default (stated, actual): {wrong}"


def test_the_table_lists_the_main_settings_with_their_defaults():
    defaults = setting_defaults()
    assert defaults["model.num_trees"] == str(ModelConfig.num_trees)
    assert defaults["summaries.window"] == '"1 minute"' and SummariesConfig.window_seconds == 60
    assert defaults["source.max_bytes_per_trigger"] == '"256 MB"'
    assert "schema.key" not in defaults, "required settings have no default"
