"""The `[stream]` section: the scoring stream's trigger, checkpoint, champion polling and commit retries.

Why apart: these settings shape the streaming job's loop (how often it runs,
polls MLflow and retries a failed Delta append), and nothing else reads them.
"""
from __future__ import annotations

from dataclasses import dataclass

from lakehouse.config.reader import Section


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


def parse_stream(root: Section) -> StreamConfig:
    st = root.section("stream", StreamConfig)
    return StreamConfig(
        trigger_seconds=st.positive("trigger_seconds", float),
        checkpoint=st.get("checkpoint", str),
        model_refresh_seconds=st.positive("model_refresh_seconds", float),
        deduplicate=st.get("deduplicate", bool),
        model_poll_timeout_seconds=st.positive("model_poll_timeout_seconds", float),
        commit_retries=st.positive("commit_retries", int, allow_zero=True),
        commit_retry_seconds=st.positive("commit_retry_seconds", float),
        backfill_max_rows=st.positive("backfill_max_rows", int),
    )
