"""The `[summaries]` section: event-time tumbling windows of every feature -> the feature_summary table.

Why apart: its watermark is also how late an event may be and still count,
which the deduplicator and the late-event counter share (streaming/).
"""
from __future__ import annotations

from dataclasses import dataclass

from lakehouse.config.reader import Section, setting


@dataclass(frozen=True)
class SummariesConfig:
    """Event-time tumbling windows of every feature -> feature_summary."""

    window_seconds: int = setting(60, "duration", key="window")
    # How late an event may arrive and still count in its window.
    watermark_seconds: int = setting(120, "duration", key="watermark", allow_zero=True)
    per_key: bool = setting(False)        # also one row per key (besides the all-keys row)
    trigger_seconds: float = setting(30.0, "positive")
    checkpoint: str = setting("_checkpoints/summaries")


def parse_summaries(root: Section) -> SummariesConfig:
    return root.section("summaries", SummariesConfig).build(SummariesConfig)
