"""Field names the config loader refuses: one line naming the field and why, never a failing stream later."""
import subprocess
import sys

import pytest

from conftest import ROOT, config_in
from lakehouse.catalog import tables
from lakehouse.columns import PREFIX, TABLE_COLUMNS
from lakehouse.config import ConfigError, parse_config
from tests_support import default_toml_dict


def with_field(name: str, type_: str = "double", feature: bool = False, key: bool = False) -> dict:
    data = default_toml_dict()
    data["schema"]["fields"].append({"name": name, "type": type_, "required": key})
    if feature:
        data["features"]["columns"].append(name)
    if key:
        data["schema"]["key"] = name
    return data


@pytest.mark.parametrize("data, message", [
    (with_field("event_date", "string"),
     'schema.fields: "event_date" is a column isoguard adds to the events table; rename the field'),
    (with_field("Ingested_At", "string"),
     'schema.fields: "Ingested_At" is a column isoguard adds to the events table; rename the field'),
    (with_field("anomaly_score", feature=True),
     'schema.fields: "anomaly_score" is a column isoguard adds to the scores table; rename the field'),
    (with_field("status", "string", key=True),
     'schema.fields: "status" is a column isoguard adds to the alerts table; rename the field'),
    (with_field("_isoguard_value", "string"), "schema.fields[11].name: '_isoguard_value': names starting with "
                                              "_isoguard_ are isoguard's own columns; rename the field"),
    (with_field("CPU_PCT"), "schema.fields[11].name: duplicate field 'CPU_PCT'"),
], ids=["events", "events-any-case", "scores", "alerts-key", "prefix", "case-duplicate"])
def test_a_field_named_like_a_column_isoguard_adds_is_refused_in_one_line(data, message):
    with pytest.raises(ConfigError) as error:
        parse_config(data, environ={})
    assert str(error.value) == message


@pytest.mark.parametrize("name", ["value", "key", "timestamp", "topic", "offset", "partition", "reason", "detail",
                                  "arrived_at", "record_bytes", "_id", "_json", "_problem"])
def test_names_of_internal_columns_are_free_for_event_fields(name):
    """A score (an anomaly_score only where it is stored next to the features) is fine elsewhere too."""
    assert name in parse_config(with_field(name), environ={}).schema.names


def test_the_job_prints_the_refusal_as_one_error_line(tmp_path):
    toml = (ROOT / "conf" / "default.toml").read_text()
    toml = toml.replace('name = "event_time"', 'name = "event_date"').replace(
        'event_time = "event_time"', 'event_time = "event_date"')
    path = tmp_path / "my.toml"
    path.write_text(toml)
    result = subprocess.run([sys.executable, "streaming/job.py", "--config", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (f'error: {path}: schema.fields: "event_date" is a column isoguard adds to the '
                                     "events table; rename the field")


def test_the_refused_names_are_the_columns_the_catalog_stores_next_to_event_fields(tmp_path):
    config = config_in(tmp_path)
    s = config.schema
    stored = {"all": set(s.names), "scored": {s.event_id, s.key, s.event_time, *config.features}, "key": {s.key}}
    for name, table in tables(config).items():
        if name in TABLE_COLUMNS:
            which, added = TABLE_COLUMNS[name]
            assert {f.name for f in table.schema.fields} == stored[which] | set(added), name
        else:  # tables without event fields can have any columns
            assert not ({f.name for f in table.schema.fields} & set(s.names)), name
    assert all(not n.startswith(PREFIX) for _, added in TABLE_COLUMNS.values() for n in added)
