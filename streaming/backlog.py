"""The stream's lag at its source, for `stream_stats.backlog`.

File source: the files staged from the landing folder (streaming/landing.py)
that arrived after the newest file of the micro-batch just read (the file
source takes files oldest first), so not read yet; a landing folder without a
planner is measured itself. Only a local (or mounted) landing folder is measured: listing
an object store per micro-batch costs more than it tells. Each file is stat'ed
until it is known to be read, so a long-lived landing folder costs one
directory listing per batch.

Kafka source: the messages behind the latest offsets, summed over partitions,
from Spark's source metrics (`avgOffsetsBehindLatest` times the partitions) of
the last progress report, that is as of the previous micro-batch's planning.

    gauge = BacklogGauge(config); gauge.bind(query)
    gauge.measure(newest_arrival_ms)    # -> files or messages waiting, or None when unknown
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from stat import S_ISDIR

from lakehouse.config import Config
from streaming.landing import planner_root

log = logging.getLogger(__name__)


class LandingBacklog:
    """Files in a local landing folder newer than the newest one read; remembers the ones known to be read."""

    def __init__(self, landing: str):
        self.landing = Path(landing)
        self._read: set[str] = set()

    def waiting(self, newest_arrival_ms: int) -> int:
        names = {n for n in os.listdir(self.landing) if not n.startswith((".", "_"))}
        self._read &= names
        waiting = 0
        for name in names - self._read:
            try:
                stat = (self.landing / name).stat()
            except FileNotFoundError:  # removed since the listing
                continue
            if stat.st_mtime_ns // 1_000_000 <= newest_arrival_ms:
                self._read.add(name)
            elif not S_ISDIR(stat.st_mode):
                waiting += 1
        return waiting


def kafka_offsets_behind(progress: dict | None) -> int | None:
    """Messages behind the latest offsets, summed over the partitions, from a query progress report."""
    for source in (progress or {}).get("sources", []):
        metrics = source.get("metrics") or {}
        if "avgOffsetsBehindLatest" not in metrics:
            continue
        try:
            offsets = source.get("endOffset")
            offsets = json.loads(offsets) if isinstance(offsets, str) else offsets
            partitions = sum(len(per_topic) for per_topic in offsets.values())
            return round(float(metrics["avgOffsetsBehindLatest"]) * partitions)
        except (TypeError, ValueError, AttributeError):
            return None
    return None


class BacklogGauge:
    """What waits at the configured source after a micro-batch; None when it cannot be told."""

    def __init__(self, config: Config):
        self.kind = config.source.kind
        landing = config.landing_path
        root = planner_root(config) if self.kind == "files" else None
        if root is not None:
            landing = str(root / "staged")
        self._landing = LandingBacklog(landing) if self.kind == "files" and "://" not in landing else None
        self._query = None

    def bind(self, query) -> None:
        self._query = query

    def measure(self, newest_arrival_ms: int | None) -> int | None:
        try:
            if self._landing is not None:
                return self._landing.waiting(newest_arrival_ms) if newest_arrival_ms is not None else None
            if self.kind == "kafka" and self._query is not None:
                return kafka_offsets_behind(self._query.lastProgress)
        except OSError as exc:  # a metric, never a reason to fail the batch
            log.warning("backlog not measured: %s", exc)
        return None
