"""Load and check the one TOML file that describes a deployment.

One module per section (schema, source, stream, model, retrain, summaries,
alerts, dashboard), each holding its dataclass, the one place its defaults are
written, and its parser; `reader` reads typed keys and refuses unknown ones;
`loader` puts the sections together. Everything is re-exported here, so code
imports `from lakehouse.config import Config, load_config, ...` whatever the
module.

>>> config = load_config("conf/default.toml")
>>> config.schema.key
'device_id'
"""
from lakehouse.config.alerts import AlertsConfig
from lakehouse.config.dashboard import HOST_NAME, DashboardConfig
from lakehouse.config.loader import Config, load_config, parse_config
from lakehouse.config.model import ModelConfig
from lakehouse.config.reader import DURATION, DURATION_UNITS, SIZE, SIZE_UNITS, ConfigError, field_default
from lakehouse.config.retrain import GATE_METRICS, RENAMED_GATE_METRICS, THRESHOLD_SOURCES, RetrainConfig
from lakehouse.config.schema import FIELD_TYPES, EventSchema, FieldSpec
from lakehouse.config.source import (EVENT_TIME_BOUNDS, SOURCE_KINDS, UNKNOWN_FIELD_POLICIES, KafkaSourceConfig,
                                     SourceConfig)
from lakehouse.config.stream import StreamConfig
from lakehouse.config.summaries import SummariesConfig

__all__ = [
    "AlertsConfig", "Config", "ConfigError", "DashboardConfig", "EventSchema", "FieldSpec", "KafkaSourceConfig",
    "ModelConfig", "RetrainConfig", "SourceConfig", "StreamConfig", "SummariesConfig",
    "field_default", "load_config", "parse_config",
    "DURATION", "DURATION_UNITS", "EVENT_TIME_BOUNDS", "FIELD_TYPES", "GATE_METRICS", "HOST_NAME",
    "RENAMED_GATE_METRICS", "SIZE", "SIZE_UNITS", "SOURCE_KINDS", "THRESHOLD_SOURCES", "UNKNOWN_FIELD_POLICIES",
]
