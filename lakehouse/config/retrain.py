"""The `[retrain]` section: the nightly job's holdout, gates, training hygiene, schedule and table maintenance.

Why apart: these settings decide whether a new model becomes `champion`
(models/gates.py reads `RetrainConfig` alone); a renamed gate metric is still
read, with a one-line warning, so an old config keeps working.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from lakehouse.config.reader import ConfigError, Section, setting

GATE_METRICS = ("average_precision", "roc_auc", "f1")
# Old gate-metric names and what they are now: "pr_auc" was the trapezoidal area, now average precision.
RENAMED_GATE_METRICS = {"pr_auc": "average_precision"}
THRESHOLD_SOURCES = ("auto", "labels", "contamination")


def _share(section: Section, key: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{section.key(key)}: must be in [0, 1], got {value!r}")
    return value


def _open_share(section: Section, key: str, value: float) -> float:
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{section.key(key)}: must be in (0, 1), got {value!r}")
    return value


def _gate_metric(r: Section, key: str, name: str) -> str:
    """retrain.primary_metric; an old name is read as its new one, with a one-line warning."""
    if name in RENAMED_GATE_METRICS:
        new = RENAMED_GATE_METRICS[name]
        print(f"warning: {r.key(key)}: {name!r} is now {new!r} (average precision, as scikit-learn "
              f"and ADBench report it, instead of the trapezoidal area); using {new!r}: rename it in the config",
              file=sys.stderr)
        return new
    if name not in GATE_METRICS:
        raise ConfigError(f"{r.key(key)}: must be one of {', '.join(GATE_METRICS)}, got {name!r}")
    return name


def _local_time(r: Section, key: str, at: str) -> str:
    hour, _, minute = at.partition(":")
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60 and len(minute) == 2):
        raise ConfigError(f"{r.key(key)}: expected HH:MM (local time), got {at!r}")
    return at


@dataclass(frozen=True)
class RetrainConfig:
    """The nightly job: holdout, gates, training hygiene, schedule, table maintenance."""

    # The latest share of the window (by event time) held out for evaluation.
    holdout_fraction: float = setting(0.2, check=_open_share)
    primary_metric: str = setting("average_precision", check=_gate_metric)  # gate metric where labels exist
    # The challenger may trail the champion by at most this much.
    max_metric_drop: float = setting(0.02, "positive", allow_zero=True)
    min_alert_rate: float = setting(0.0, check=_share)  # the challenger's holdout alert rate must lie in [min, max]
    max_alert_rate: float = setting(0.05, check=_share)
    # Train without rows served with anomaly_score >= threshold + margin.
    exclude_score_margin: float = setting(0.05, "positive", allow_zero=True)
    # "auto": best F1 on labels where enough, else contamination; or either one.
    threshold: str = setting("auto", "choice", choices=THRESHOLD_SOURCES)
    # "auto" uses labels when this many anomalies (and normal events) are labelled.
    min_labelled_anomalies: int = setting(10, "positive")
    truth_labels: str = setting("truth")  # optional folder of ground-truth CSVs (event_id, is_anomaly); "" = none
    schedule_at: str = setting("00:30", check=_local_time)  # local time of the nightly run (batch.schedule)
    vacuum_retention_hours: float = setting(168.0, "positive", allow_zero=True)


def parse_retrain(root: Section) -> RetrainConfig:
    retrain = root.section("retrain", RetrainConfig).build(RetrainConfig)
    if retrain.min_alert_rate > retrain.max_alert_rate:
        raise ConfigError(f"retrain.min_alert_rate: {retrain.min_alert_rate} is greater than "
                          f"retrain.max_alert_rate {retrain.max_alert_rate}")
    return retrain
