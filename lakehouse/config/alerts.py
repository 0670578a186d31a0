"""The `[alerts]` section: how anomalies on one key group into incidents (the alerts table).

Why apart: the incident gap is the one setting of the alerts stream's
grouping; its trigger and checkpoint are its own, not the scoring stream's.
"""
from __future__ import annotations

from dataclasses import dataclass

from lakehouse.config.reader import Section, setting


@dataclass(frozen=True)
class AlertsConfig:
    """Anomalies on one key with no gap longer than `gap_seconds` between them are one incident."""

    gap_seconds: int = setting(300, "duration", key="gap")
    trigger_seconds: float = setting(5.0, "positive")
    checkpoint: str = setting("_checkpoints/alerts")


def parse_alerts(root: Section) -> AlertsConfig:
    return root.section("alerts", AlertsConfig).build(AlertsConfig)
