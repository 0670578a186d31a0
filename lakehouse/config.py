"""Load and check the one TOML file that describes a deployment.

>>> config = load_config("conf/default.toml")
>>> config.schema.key
'device_id'
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lakehouse.columns import PREFIX, TABLE_COLUMNS

FIELD_TYPES = ("string", "double", "long", "timestamp")
SOURCE_KINDS = ("files", "kafka")
UNKNOWN_FIELD_POLICIES = ("reject", "ignore")
EVENT_TIME_BOUNDS = ("wall_clock", "data")
GATE_METRICS = ("average_precision", "roc_auc", "f1")
# Old gate-metric names and what they are now: "pr_auc" was the trapezoidal area, now average precision.
RENAMED_GATE_METRICS = {"pr_auc": "average_precision"}
THRESHOLD_SOURCES = ("auto", "labels", "contamination")
DURATION = re.compile(r"(\d+)\s*(second|minute|hour|day)s?")
DURATION_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
SIZE = re.compile(r"(\d+)\s*(b|kb|mb|gb)?")
SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9}
HOST_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"  # a DNS name (dashboard.allowed_hosts): no port or wildcard
HOST_NAME = re.compile(rf"(?=.{{1,253}}$){HOST_LABEL}(\.{HOST_LABEL})*\.?", re.IGNORECASE)


class ConfigError(ValueError):
    """A config file that cannot be used; the message is one line naming the key."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    required: bool = False
    min: float | None = None
    max: float | None = None

    @property
    def is_numeric(self) -> bool:
        return self.type in ("double", "long")


@dataclass(frozen=True)
class EventSchema:
    fields: tuple[FieldSpec, ...]
    event_id: str
    key: str
    event_time: str

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)


@dataclass(frozen=True)
class KafkaSourceConfig:
    """[source.kafka]; security settings come from ISOGUARD_KAFKA_* variables (streaming/kafka_source.py)."""
    bootstrap_servers: str = ""
    topic: str = ""
    starting_offsets: str = "earliest"   # "earliest", "latest" or Spark's per-partition JSON
    max_offsets_per_trigger: int = 1_000_000  # bounded like the file source (~250 MB of events); 0 = no cap
    fail_on_data_loss: bool = True


@dataclass(frozen=True)
class SourceConfig:
    kind: str = "files"
    landing: str = "landing"
    max_files_per_trigger: int = 0                # > 0: at most this many files per micro-batch (wins over bytes)
    max_bytes_per_trigger: int = 256 * 10**6      # otherwise at most about this many bytes of files; 0 = no cap
    max_record_bytes: int = 4096
    unknown_fields: str = "reject"
    # Event times further than this ahead of / behind the ingestion time are quarantined.
    max_event_time_ahead_seconds: int = 300
    max_event_time_behind_seconds: int = 3650 * 86400
    # "wall_clock": both bounds against the ingestion time; "data" (backfills of history): the stale bound
    # against the newest event time the stream has stored instead (the future bound stays on the wall clock).
    event_time_bounds: str = "wall_clock"
    kafka: KafkaSourceConfig = field(default_factory=KafkaSourceConfig)


@dataclass(frozen=True)
class StreamConfig:
    trigger_seconds: float = 1.0
    checkpoint: str = "_checkpoints/stream"
    model_refresh_seconds: float = 10.0
    deduplicate: bool = True              # drop events whose id was seen within summaries.watermark
    model_poll_timeout_seconds: float = 5.0  # one MLflow request of the champion poll: timeout, no urllib3 retries
    commit_retries: int = 5               # a Delta append failing with an I/O error is retried this often ...
    commit_retry_seconds: float = 2.0     # ... after this long, doubling each time (at most 60 s between tries)
    backfill_max_rows: int = 1_000_000    # events stored without a model scored per micro-batch once one exists


@dataclass(frozen=True)
class ModelConfig:
    name: str = "isoguard"
    # Defaults chosen on the five labelled sets of shared/data (README, Model quality): 200 trees of 128 rows
    # with sloped cuts over two features beat 100 axis-parallel trees of 256 on every set, over 10 seeds.
    num_trees: int = 200
    max_samples: int = 128
    max_features: float = 1.0
    extension_level: int = 1           # features per cut minus one: 0 = axis-parallel, up to features - 1
    contamination: float = 0.01
    seed: int = 42


@dataclass(frozen=True)
class RetrainConfig:
    """The nightly job: holdout, gates, training hygiene, schedule, table maintenance."""

    holdout_fraction: float = 0.2         # the latest share of the window (by event time) held out for evaluation
    primary_metric: str = "average_precision"  # gate metric where labels exist
    max_metric_drop: float = 0.02         # the challenger may trail the champion by at most this much
    min_alert_rate: float = 0.0           # the challenger's holdout alert rate must lie in [min, max]
    max_alert_rate: float = 0.05
    exclude_score_margin: float = 0.05    # train without rows served with anomaly_score >= threshold + margin
    threshold: str = "auto"               # "auto": best F1 on labels where enough, else contamination; or either one
    min_labelled_anomalies: int = 10      # "auto" uses labels when this many anomalies (and normal events) are labelled
    truth_labels: str = "truth"           # optional folder of ground-truth CSVs (event_id, is_anomaly); "" = none
    schedule_at: str = "00:30"            # local time of the nightly run (batch.schedule)
    vacuum_retention_hours: float = 168.0


@dataclass(frozen=True)
class SummariesConfig:
    """Event-time tumbling windows of every feature -> feature_summary."""

    window_seconds: int = 60
    watermark_seconds: int = 120          # how late an event may arrive and still count in its window
    per_key: bool = False                 # also one row per key (besides the all-keys row)
    trigger_seconds: float = 30.0
    checkpoint: str = "_checkpoints/summaries"


@dataclass(frozen=True)
class AlertsConfig:
    """Anomalies on one key with no gap longer than `gap_seconds` between them are one incident."""

    gap_seconds: int = 300
    trigger_seconds: float = 5.0
    checkpoint: str = "_checkpoints/alerts"


@dataclass(frozen=True)
class DashboardConfig:
    host: str = "127.0.0.1"
    port: int = 8050
    refresh_seconds: float = 2.0
    window_minutes: int = 10
    allowed_hosts: tuple[str, ...] = ()   # Host header names answered besides loopback ones (dashboard.network)


@dataclass(frozen=True)
class Config:
    schema: EventSchema
    features: tuple[str, ...]
    lake_root: str
    source: SourceConfig = field(default_factory=SourceConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    summaries: SummariesConfig = field(default_factory=SummariesConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    mlflow_tracking_uri: str = ""
    mlflow_experiment: str = "isoguard"
    path: str = ""

    def lake_path(self, relative: str) -> str:
        """A path under the lake root, unless `relative` is already absolute or a URI."""
        if "://" in relative or os.path.isabs(relative):
            return relative
        return f"{self.lake_root.rstrip('/')}/{relative}"

    @property
    def landing_path(self) -> str:
        return self.lake_path(self.source.landing)

    @property
    def checkpoint_path(self) -> str:
        return self.lake_path(self.stream.checkpoint)

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.lake_path('mlflow.db')}"

    @property
    def artifact_location(self) -> str | None:
        """Where MLflow keeps artifacts for the default local store; None defers to the server."""
        if self.mlflow_tracking_uri:
            return None
        return Path(self.lake_path("mlartifacts")).as_uri()

    def with_lake(self, root: str) -> "Config":
        return replace(self, lake_root=_absolute(root))


def _absolute(path: str) -> str:
    return path if "://" in path else str(Path(path).resolve())


class _Section:
    """Typed access to one TOML table; every error names the dotted key."""

    def __init__(self, data: Any, prefix: str):
        if not isinstance(data, dict):
            raise ConfigError(f"{prefix}: must be a table")
        self.data, self.prefix = data, prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def get(self, name: str, kind: type | tuple, default: Any = None, required: bool = False):
        if name not in self.data:
            if required:
                raise ConfigError(f"{self.key(name)}: missing required key")
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise ConfigError(f"{self.key(name)}: expected {kinds[0].__name__}, got {value!r}")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds):
            raise ConfigError(f"{self.key(name)}: expected {kinds[0].__name__}, got {value!r}")
        return value

    def positive(self, name: str, kind: type, default: Any, allow_zero: bool = False):
        value = self.get(name, kind, default)
        if value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ConfigError(f"{self.key(name)}: must be {bound}, got {value!r}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(name, str, default)
        if value not in choices:
            raise ConfigError(f"{self.key(name)}: must be one of {', '.join(choices)}, got {value!r}")
        return value

    def duration(self, name: str, default: str, allow_zero: bool = False) -> int:
        """A span like "1 minute" or "90 seconds", in seconds."""
        text = self.get(name, str, default)
        match = DURATION.fullmatch(text.strip().lower())
        if not match or (int(match[1]) == 0 and not allow_zero):
            raise ConfigError(f"{self.key(name)}: expected a duration like '1 minute' or '30 seconds'"
                              f"{'' if allow_zero else ' (more than 0)'}, got {text!r}")
        return int(match[1]) * DURATION_UNITS[match[2]]

    def size(self, name: str, default: int) -> int:
        """A byte count: a whole number of bytes or a string like "256 MB" (decimal units); 0 allowed."""
        value = self.get(name, (int, str), default)
        if isinstance(value, int):
            number = value
        else:
            match = SIZE.fullmatch(value.strip().lower())
            if not match:
                raise ConfigError(f"{self.key(name)}: expected a size like '256 MB' or a number of bytes, got {value!r}")
            number = int(match[1]) * SIZE_UNITS[match[2] or "b"]
        if number < 0:
            raise ConfigError(f"{self.key(name)}: must be >= 0, got {value!r}")
        return number

    def section(self, name: str) -> "_Section":
        return _Section(self.data.get(name, {}), self.key(name))


def _parse_fields(schema: _Section) -> tuple[FieldSpec, ...]:
    raw = schema.get("fields", list, required=True)
    specs, seen = [], set()
    for i, item in enumerate(raw):
        f = _Section(item, f"schema.fields[{i}]")
        name = f.get("name", str, required=True)
        if name.lower() in seen:  # Spark and Delta resolve column names case-insensitively
            raise ConfigError(f"schema.fields[{i}].name: duplicate field {name!r}")
        if name.lower().startswith(PREFIX):
            raise ConfigError(f"schema.fields[{i}].name: {name!r}: names starting with {PREFIX} are isoguard's own "
                              "columns; rename the field")
        seen.add(name.lower())
        spec = FieldSpec(
            name=name,
            type=f.choice("type", FIELD_TYPES, "string"),
            required=f.get("required", bool, False),
            min=f.get("min", float),
            max=f.get("max", float),
        )
        if (spec.min is not None or spec.max is not None) and not spec.is_numeric:
            raise ConfigError(f"schema.fields[{i}]: min/max only apply to numeric fields, not {spec.type}")
        if spec.min is not None and spec.max is not None and spec.min > spec.max:
            raise ConfigError(f"schema.fields[{i}]: min {spec.min} is greater than max {spec.max}")
        specs.append(spec)
    if not specs:
        raise ConfigError("schema.fields: needs at least one field")
    return tuple(specs)


def _parse_schema(root: _Section) -> EventSchema:
    schema = root.section("schema")
    fields = _parse_fields(schema)
    by_name = {f.name: f for f in fields}
    roles = {}
    for role, wanted in (("event_id", "string"), ("key", "string"), ("event_time", "timestamp")):
        name = schema.get(role, str, required=True)
        if name not in by_name:
            raise ConfigError(f"schema.{role}: {name!r} is not one of schema.fields")
        if by_name[name].type != wanted or not by_name[name].required:
            raise ConfigError(f"schema.{role}: field {name!r} must be a required {wanted}")
        roles[role] = name
    return EventSchema(fields=fields, **roles)


def _check_table_columns(schema: EventSchema, features: list[str]) -> None:
    """Refuse an event field named like a column a stored table adds next to it (lakehouse/columns.py)."""
    stored = {"all": schema.names, "scored": [schema.event_id, schema.key, schema.event_time, *features],
              "key": [schema.key]}
    for table, (which, added) in TABLE_COLUMNS.items():
        for name in stored[which]:
            if name.lower() in added:
                raise ConfigError(f"schema.fields: {json.dumps(name)} is a column isoguard adds to the {table} table; "
                                  "rename the field")


def _max_features(m: _Section) -> float:
    value = m.positive("max_features", float, 1.0)
    if value > 1 and not value.is_integer():
        raise ConfigError(f"{m.key('max_features')}: must be a share in (0, 1] or a whole count, got {value!r}")
    return value


def _extension_level(m: _Section, features: tuple[str, ...] | list[str]) -> int:
    """model.extension_level, capped at features - 1: a cut cannot span more features than there are
    (with one feature, the default level 1 is the axis-parallel forest)."""
    value = m.positive("extension_level", int, ModelConfig.extension_level, allow_zero=True)
    return min(value, len(features) - 1)


def _share(section: _Section, name: str, default: float, low_open: bool = False) -> float:
    value = section.get(name, float, default)
    if not (0.0 < value < 1.0 if low_open else 0.0 <= value <= 1.0):
        bounds = "(0, 1)" if low_open else "[0, 1]"
        raise ConfigError(f"{section.key(name)}: must be in {bounds}, got {value!r}")
    return value


def _gate_metric(r: _Section) -> str:
    """retrain.primary_metric; an old name is read as its new one, with a one-line warning."""
    name = r.get("primary_metric", str, RetrainConfig.primary_metric)
    if name in RENAMED_GATE_METRICS:
        new = RENAMED_GATE_METRICS[name]
        print(f"warning: {r.key('primary_metric')}: {name!r} is now {new!r} (average precision, as scikit-learn "
              f"and ADBench report it, instead of the trapezoidal area); using {new!r}: rename it in the config",
              file=sys.stderr)
        return new
    return r.choice("primary_metric", GATE_METRICS, RetrainConfig.primary_metric)


def _host_names(section: _Section, name: str) -> tuple[str, ...]:
    """Host names or IP addresses (IPv6 optionally in brackets), without scheme, port or wildcard."""
    values = section.get(name, list, [])
    for i, value in enumerate(values):
        bare = value[1:-1] if isinstance(value, str) and value.startswith("[") and value.endswith("]") else value
        if not isinstance(value, str) or not (HOST_NAME.fullmatch(value) or _is_ip(bare)):
            raise ConfigError(f"{section.key(name)}[{i}]: expected a host name or IP address without scheme, "
                              f"port or wildcard, got {value!r}")
    return tuple(values)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _parse_retrain(r: _Section) -> RetrainConfig:
    min_rate, max_rate = _share(r, "min_alert_rate", 0.0), _share(r, "max_alert_rate", 0.05)
    if min_rate > max_rate:
        raise ConfigError(f"retrain.min_alert_rate: {min_rate} is greater than retrain.max_alert_rate {max_rate}")
    at = r.get("schedule_at", str, "00:30")
    hour, _, minute = at.partition(":")
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60 and len(minute) == 2):
        raise ConfigError(f"retrain.schedule_at: expected HH:MM (local time), got {at!r}")
    return RetrainConfig(
        holdout_fraction=_share(r, "holdout_fraction", 0.2, low_open=True),
        primary_metric=_gate_metric(r),
        max_metric_drop=r.positive("max_metric_drop", float, 0.02, allow_zero=True),
        min_alert_rate=min_rate,
        max_alert_rate=max_rate,
        exclude_score_margin=r.positive("exclude_score_margin", float, 0.05, allow_zero=True),
        threshold=r.choice("threshold", THRESHOLD_SOURCES, "auto"),
        min_labelled_anomalies=r.positive("min_labelled_anomalies", int, 10),
        truth_labels=r.get("truth_labels", str, "truth"),
        schedule_at=at,
        vacuum_retention_hours=r.positive("vacuum_retention_hours", float, 168.0, allow_zero=True),
    )


def _parse_kafka(src: _Section, kind: str) -> KafkaSourceConfig:
    k = src.section("kafka")
    kafka = KafkaSourceConfig(
        bootstrap_servers=k.get("bootstrap_servers", str, "", required=kind == "kafka").strip(),
        topic=k.get("topic", str, "", required=kind == "kafka").strip(),
        starting_offsets=k.get("starting_offsets", str, "earliest").strip(),
        max_offsets_per_trigger=k.positive("max_offsets_per_trigger", int, 1_000_000, allow_zero=True),
        fail_on_data_loss=k.get("fail_on_data_loss", bool, True),
    )
    if kind == "kafka":
        for name in ("bootstrap_servers", "topic"):
            if not getattr(kafka, name):
                raise ConfigError(f"{k.key(name)}: must not be empty")
    if kafka.starting_offsets not in ("earliest", "latest"):
        try:
            per_partition = json.loads(kafka.starting_offsets)
        except ValueError:
            per_partition = None
        if not isinstance(per_partition, dict):
            raise ConfigError(f"{k.key('starting_offsets')}: must be \"earliest\", \"latest\" or a JSON object "
                              f"of offsets per topic and partition, got {kafka.starting_offsets!r}")
    return kafka


def parse_config(data: dict, path: str = "<config>", environ: dict | None = None) -> Config:
    """Build a Config from parsed TOML; raises ConfigError naming the offending key."""
    environ = os.environ if environ is None else environ
    root = _Section(data, "")
    schema = _parse_schema(root)

    feats = root.section("features")
    columns = feats.get("columns", list, required=True)
    if not columns:
        raise ConfigError("features.columns: needs at least one feature")
    for name in columns:
        if name not in schema.names:
            raise ConfigError(f"features.columns: {name!r} is not one of schema.fields")
        if not schema.field(name).is_numeric:
            raise ConfigError(f"features.columns: {name!r} is not numeric")
    _check_table_columns(schema, columns)

    src = root.section("source")
    kind = src.choice("kind", SOURCE_KINDS, "files")
    source = SourceConfig(
        kind=kind,
        landing=src.get("landing", str, "landing"),
        max_files_per_trigger=src.positive("max_files_per_trigger", int, 0, allow_zero=True),
        max_bytes_per_trigger=src.size("max_bytes_per_trigger", 256 * 10**6),
        max_record_bytes=src.positive("max_record_bytes", int, 4096),
        unknown_fields=src.choice("unknown_fields", UNKNOWN_FIELD_POLICIES, "reject"),
        max_event_time_ahead_seconds=src.duration("max_event_time_ahead", "5 minutes"),
        max_event_time_behind_seconds=src.duration("max_event_time_behind", "3650 days"),
        event_time_bounds=src.choice("event_time_bounds", EVENT_TIME_BOUNDS, "wall_clock"),
        kafka=_parse_kafka(src, kind),
    )
    st = root.section("stream")
    stream = StreamConfig(
        trigger_seconds=st.positive("trigger_seconds", float, 1.0),
        checkpoint=st.get("checkpoint", str, "_checkpoints/stream"),
        model_refresh_seconds=st.positive("model_refresh_seconds", float, 10.0),
        deduplicate=st.get("deduplicate", bool, True),
        model_poll_timeout_seconds=st.positive("model_poll_timeout_seconds", float, 5.0),
        commit_retries=st.positive("commit_retries", int, 5, allow_zero=True),
        commit_retry_seconds=st.positive("commit_retry_seconds", float, 2.0),
        backfill_max_rows=st.positive("backfill_max_rows", int, 1_000_000),
    )
    m = root.section("model")
    contamination = m.get("contamination", float, 0.01)
    if not 0.0 < contamination < 0.5:
        raise ConfigError(f"model.contamination: must be in (0, 0.5), got {contamination!r}")
    model = ModelConfig(
        name=m.get("name", str, ModelConfig.name),
        num_trees=m.positive("num_trees", int, ModelConfig.num_trees),
        max_samples=m.positive("max_samples", int, ModelConfig.max_samples),
        max_features=_max_features(m),
        extension_level=_extension_level(m, columns),
        contamination=contamination,
        seed=m.get("seed", int, 42),
    )
    d = root.section("dashboard")
    dashboard = DashboardConfig(
        host=d.get("host", str, "127.0.0.1"),
        port=d.positive("port", int, 8050),
        refresh_seconds=d.positive("refresh_seconds", float, 2.0),
        window_minutes=d.positive("window_minutes", int, 10),
        allowed_hosts=_host_names(d, "allowed_hosts"),
    )
    retrain = _parse_retrain(root.section("retrain"))
    su = root.section("summaries")
    summaries = SummariesConfig(
        window_seconds=su.duration("window", "1 minute"),
        watermark_seconds=su.duration("watermark", "2 minutes", allow_zero=True),
        per_key=su.get("per_key", bool, False),
        trigger_seconds=su.positive("trigger_seconds", float, 30.0),
        checkpoint=su.get("checkpoint", str, "_checkpoints/summaries"),
    )
    al = root.section("alerts")
    alerts = AlertsConfig(
        gap_seconds=al.duration("gap", "5 minutes"),
        trigger_seconds=al.positive("trigger_seconds", float, 5.0),
        checkpoint=al.get("checkpoint", str, "_checkpoints/alerts"),
    )
    ml = root.section("mlflow")
    lake_root = environ.get("ISOGUARD_LAKE") or root.section("lake").get("root", str, "lake")
    return Config(
        schema=schema,
        features=tuple(columns),
        lake_root=_absolute(lake_root),
        source=source,
        stream=stream,
        model=model,
        retrain=retrain,
        summaries=summaries,
        alerts=alerts,
        dashboard=dashboard,
        mlflow_tracking_uri=environ.get("MLFLOW_TRACKING_URI") or ml.get("tracking_uri", str, ""),
        mlflow_experiment=ml.get("experiment", str, "isoguard"),
        path=path,
    )


def load_config(path: str | os.PathLike, environ: dict | None = None) -> Config:
    """Read a TOML config file; every problem is a ConfigError with a one-line message."""
    path = str(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        return parse_config(data, path, environ)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
