"""A misspelled key, table or setting is refused in one line naming it and the closest valid name.

Before, `num_tress = 50` (or a `[modle]` table) was ignored and the default used without a word.
"""
import pytest

from lakehouse.config import ConfigError, load_config, parse_config
from tests_support import ROOT, default_toml_dict


def _refusal(data: dict) -> str:
    with pytest.raises(ConfigError) as error:
        parse_config(data, environ={})
    assert "\n" not in str(error.value)
    return str(error.value)


def _renamed(table: dict, old: str, new: str) -> None:
    table[new] = table.pop(old)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: _renamed(d["model"], "num_trees", "num_tress"),
     "unknown setting model.num_tress (did you mean model.num_trees?)"),
    (lambda d: _renamed(d, "model", "modle"), "unknown section modle (did you mean model?)"),
    (lambda d: _renamed(d["stream"], "trigger_seconds", "trigger_secs"),
     "unknown setting stream.trigger_secs (did you mean stream.trigger_seconds?)"),
    (lambda d: _renamed(d["summaries"], "watermark", "watermak"),
     "unknown setting summaries.watermak (did you mean summaries.watermark?)"),
    (lambda d: _renamed(d["source"], "kafka", "kafak"), "unknown section source.kafak (did you mean source.kafka?)"),
    (lambda d: _renamed(d["source"]["kafka"], "topic", "topics"),
     "unknown setting source.kafka.topics (did you mean source.kafka.topic?)"),
    (lambda d: _renamed(d["schema"]["fields"][3], "required", "requird"),
     "unknown setting schema.fields[3].requird (did you mean schema.fields[3].required?)"),
    (lambda d: _renamed(d["mlflow"], "tracking_uri", "tracking_url"),
     "unknown setting mlflow.tracking_url (did you mean mlflow.tracking_uri?)"),
    (lambda d: _renamed(d["lake"], "root", "roots"), "unknown setting lake.roots (did you mean lake.root?)"),
    (lambda d: d["dashboard"].update(colour="blue"),
     "unknown setting dashboard.colour (valid: host, port, refresh_seconds, window_minutes, allowed_hosts)"),
    (lambda d: d["stream"].update(extra={"a": 1}), "unknown section stream.extra (valid: trigger_seconds, "),
    (lambda d: d.update(verbose=True), "unknown setting verbose (valid: lake, source, "),
], ids=["key", "section", "setting", "duration", "subsection", "kafka-key", "field-item", "mlflow", "lake",
        "no-near-name", "table-in-section", "top-level-key"])
def test_an_unknown_key_is_refused_with_the_closest_valid_name(mutate, message):
    data = default_toml_dict()
    mutate(data)
    assert _refusal(data).startswith(message)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: _renamed(d["schema"], "event_time", "evnt_time"),
     "unknown setting schema.evnt_time (did you mean schema.event_time?)"),
    (lambda d: (d["source"].update(kind="kafka"), _renamed(d["source"], "kafka", "kafak")),
     "unknown section source.kafak (did you mean source.kafka?)"),
], ids=["required-key", "required-section"])
def test_a_misspelled_required_key_is_named_as_a_misspelling_not_as_missing(mutate, message):
    data = default_toml_dict()
    mutate(data)
    assert _refusal(data) == message


def test_several_unknown_keys_name_the_first_and_count_the_rest():
    data = default_toml_dict()
    _renamed(data["model"], "seed", "sead")
    data["alerts"]["gapp"] = "1 minute"
    assert _refusal(data) == "unknown setting model.sead (did you mean model.seed?); and 1 more unknown"


def test_the_kafka_section_is_checked_also_when_reading_files():
    data = default_toml_dict()
    assert data["source"]["kind"] == "files"
    data["source"]["kafka"]["max_offset_per_trigger"] = 10
    assert _refusal(data) == ("unknown setting source.kafka.max_offset_per_trigger "
                              "(did you mean source.kafka.max_offsets_per_trigger?)")


def test_the_file_name_leads_the_line(tmp_path):
    toml = tmp_path / "my.toml"
    toml.write_text((ROOT / "conf" / "default.toml").read_text().replace("num_trees = 200", "num_tress = 50"))
    with pytest.raises(ConfigError) as error:
        load_config(toml, environ={})
    assert str(error.value) == f"{toml}: unknown setting model.num_tress (did you mean model.num_trees?)"


def test_environment_overrides_still_apply_to_a_file_that_sets_the_keys(tmp_path):
    env = {"ISOGUARD_LAKE": str(tmp_path / "lake"), "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}
    config = load_config(ROOT / "conf" / "default.toml", environ=env)
    assert (config.lake_root, config.tracking_uri) == (str(tmp_path / "lake"), "http://127.0.0.1:5000")


def _merged(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        base[key] = _merged(base.get(key, {}), value) if isinstance(value, dict) else value
    return base


def test_the_readme_toml_examples_use_only_known_settings():
    import re
    import tomllib

    examples = re.findall(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert examples, "the README shows TOML examples"
    for example in examples:
        parse_config(_merged(default_toml_dict(), tomllib.loads(example)), environ={})
