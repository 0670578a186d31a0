"""The `[retrain]` section: the nightly job's holdout, gates, training hygiene, schedule and table maintenance.

Why apart: these settings decide whether a new model becomes `champion`
(models/gates.py reads `RetrainConfig` alone); a renamed gate metric is still
read, with a one-line warning, so an old config keeps working.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from lakehouse.config.reader import ConfigError, Section

GATE_METRICS = ("average_precision", "roc_auc", "f1")
# Old gate-metric names and what they are now: "pr_auc" was the trapezoidal area, now average precision.
RENAMED_GATE_METRICS = {"pr_auc": "average_precision"}
THRESHOLD_SOURCES = ("auto", "labels", "contamination")


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


def parse_retrain(root: Section) -> RetrainConfig:
    r = root.section("retrain", RetrainConfig)
    holdout, metric = _share(r, "holdout_fraction", low_open=True), _gate_metric(r)
    max_drop = r.positive("max_metric_drop", float, allow_zero=True)
    min_rate, max_rate = _share(r, "min_alert_rate"), _share(r, "max_alert_rate")
    if min_rate > max_rate:
        raise ConfigError(f"retrain.min_alert_rate: {min_rate} is greater than retrain.max_alert_rate {max_rate}")
    return RetrainConfig(
        holdout_fraction=holdout,
        primary_metric=metric,
        max_metric_drop=max_drop,
        min_alert_rate=min_rate,
        max_alert_rate=max_rate,
        exclude_score_margin=r.positive("exclude_score_margin", float, allow_zero=True),
        threshold=r.choice("threshold", THRESHOLD_SOURCES),
        min_labelled_anomalies=r.positive("min_labelled_anomalies", int),
        truth_labels=r.get("truth_labels", str),
        schedule_at=_schedule_at(r),
        vacuum_retention_hours=r.positive("vacuum_retention_hours", float, allow_zero=True),
    )


def _schedule_at(r: Section) -> str:
    at = r.get("schedule_at", str)
    hour, _, minute = at.partition(":")
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60 and len(minute) == 2):
        raise ConfigError(f"{r.key('schedule_at')}: expected HH:MM (local time), got {at!r}")
    return at


def _share(section: Section, name: str, low_open: bool = False) -> float:
    value = section.get(name, float)
    if not (0.0 < value < 1.0 if low_open else 0.0 <= value <= 1.0):
        bounds = "(0, 1)" if low_open else "[0, 1]"
        raise ConfigError(f"{section.key(name)}: must be in {bounds}, got {value!r}")
    return value


def _gate_metric(r: Section) -> str:
    """retrain.primary_metric; an old name is read as its new one, with a one-line warning."""
    name = r.get("primary_metric", str)
    if name in RENAMED_GATE_METRICS:
        new = RENAMED_GATE_METRICS[name]
        print(f"warning: {r.key('primary_metric')}: {name!r} is now {new!r} (average precision, as scikit-learn "
              f"and ADBench report it, instead of the trapezoidal area); using {new!r}: rename it in the config",
              file=sys.stderr)
        return new
    return r.choice("primary_metric", GATE_METRICS)
