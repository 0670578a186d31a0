"""The `[alerts]` section: how anomalies on one key group into incidents (the alerts table).

Why apart: the incident gap is the one setting of the alerts stream's
grouping; its trigger and checkpoint are its own, not the scoring stream's.
"""
from __future__ import annotations

from dataclasses import dataclass

from lakehouse.config.reader import Section


@dataclass(frozen=True)
class AlertsConfig:
    """Anomalies on one key with no gap longer than `gap_seconds` between them are one incident."""

    gap_seconds: int = 300
    trigger_seconds: float = 5.0
    checkpoint: str = "_checkpoints/alerts"


def parse_alerts(root: Section) -> AlertsConfig:
    al = root.section("alerts", AlertsConfig)
    return AlertsConfig(
        gap_seconds=al.duration("gap", "gap_seconds"),
        trigger_seconds=al.positive("trigger_seconds", float),
        checkpoint=al.get("checkpoint", str),
    )
