"""The `[stream]` section: the scoring stream's trigger, checkpoint, champion polling and commit retries.

Why apart: these settings shape the streaming job's loop (how often it runs,
polls MLflow and retries a failed Delta append), and nothing else reads them.
"""
from __future__ import annotations

from dataclasses import dataclass

from lakehouse.config.reader import Section, setting


@dataclass(frozen=True)
class StreamConfig:
    trigger_seconds: float = setting(1.0, "positive")
    checkpoint: str = setting("_checkpoints/stream")
    model_refresh_seconds: float = setting(10.0, "positive")
    deduplicate: bool = setting(True)     # drop events whose id was seen within summaries.watermark
    # One MLflow request of the champion poll: timeout, no urllib3 retries.
    model_poll_timeout_seconds: float = setting(5.0, "positive")
    commit_retries: int = setting(5, "positive", allow_zero=True)  # a Delta append failing with an I/O error is
    commit_retry_seconds: float = setting(2.0, "positive")  # retried this often, after this long, doubling (<= 60 s)
    # Events stored without a model scored per micro-batch once one exists.
    backfill_max_rows: int = setting(1_000_000, "positive")


def parse_stream(root: Section) -> StreamConfig:
    return root.section("stream", StreamConfig).build(StreamConfig)
