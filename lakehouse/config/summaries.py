"""The `[summaries]` section: event-time tumbling windows of every feature -> the feature_summary table.

Why apart: its watermark is also how late an event may be and still count,
which the deduplicator and the late-event counter share (streaming/).
"""
from __future__ import annotations

from dataclasses import dataclass

from lakehouse.config.reader import Section


@dataclass(frozen=True)
class SummariesConfig:
    """Event-time tumbling windows of every feature -> feature_summary."""

    window_seconds: int = 60
    watermark_seconds: int = 120          # how late an event may arrive and still count in its window
    per_key: bool = False                 # also one row per key (besides the all-keys row)
    trigger_seconds: float = 30.0
    checkpoint: str = "_checkpoints/summaries"


def parse_summaries(root: Section) -> SummariesConfig:
    su = root.section("summaries", SummariesConfig)
    return SummariesConfig(
        window_seconds=su.duration("window", "window_seconds"),
        watermark_seconds=su.duration("watermark", "watermark_seconds", allow_zero=True),
        per_key=su.get("per_key", bool),
        trigger_seconds=su.positive("trigger_seconds", float),
        checkpoint=su.get("checkpoint", str),
    )
