"""Dashboard data access: Delta tables read with delta-rs (no JVM), plus the KPI arithmetic."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from lakehouse.config import Config

KPI_BATCHES = 10   # KPIs summarise the latest micro-batches
MAX_POINTS = 5000  # the timeline shows at most this many recent scores


class LakeReader:
    """Reads just the recent part of each table the dashboard shows."""

    def __init__(self, config: Config):
        self.config = config

    def _table(self, name: str) -> DeltaTable | None:
        try:
            return DeltaTable(self.config.lake_path(name))
        except TableNotFoundError:
            return None

    def stream_stats(self, last: int = 300) -> pd.DataFrame:
        table = self._table("stream_stats")
        if table is None:
            return pd.DataFrame()
        frame = table.to_pandas()
        return frame.sort_values("finished_at").tail(last).reset_index(drop=True)

    def recent_scores(self, minutes: int) -> pd.DataFrame:
        """Scores of the last `minutes` of event time (counted back from the newest event)."""
        table = self._table("scores")
        if table is None:
            return pd.DataFrame()
        dates = sorted({p["event_date"] for p in table.partitions() if p.get("event_date")})
        if not dates:
            return pd.DataFrame()
        s = self.config.schema
        columns = [s.event_id, s.key, s.event_time, "anomaly_score", "is_anomaly", "threshold", "model_version"]
        dataset = table.to_pyarrow_dataset()
        recent = dataset.to_table(columns=columns, filter=pc.field("event_date") >= pd.Timestamp(dates[-1]).date())
        if recent.num_rows == 0:
            return pd.DataFrame(columns=columns)
        newest = pc.max(recent[s.event_time]).as_py()
        start = newest - timedelta(minutes=minutes)
        if start.date() < pd.Timestamp(dates[-1]).date():
            recent = dataset.to_table(columns=columns, filter=pc.field("event_date") >= start.date())
        frame = recent.filter(pc.field(s.event_time) >= start).to_pandas()
        return thin_out(frame.sort_values(s.event_time), MAX_POINTS)


def thin_out(scores: pd.DataFrame, limit: int) -> pd.DataFrame:
    """At most `limit` rows spread evenly over the window; anomalies (the highest first) get up to half."""
    if len(scores) <= limit:
        return scores.reset_index(drop=True)
    anomalies = scores[scores.is_anomaly]
    if len(anomalies) > limit // 2:
        anomalies = anomalies.nlargest(limit // 2, "anomaly_score")
    normal = scores[~scores.is_anomaly]
    keep = limit - len(anomalies)
    step = -(-len(normal) // keep)
    return pd.concat([normal.iloc[::step], anomalies]).sort_index().reset_index(drop=True)


@dataclass(frozen=True)
class Kpis:
    events_per_second: float | None
    anomaly_rate: float | None
    model_version: str | None
    threshold: float | None
    latency_p95_ms: float | None
    quarantined: int
    batches: int


def kpis(stats: pd.DataFrame, batches: int = KPI_BATCHES) -> Kpis:
    """Rates over the latest `batches` micro-batches of stream_stats."""
    if stats.empty:
        return Kpis(None, None, None, None, None, 0, 0)
    recent = stats.sort_values("finished_at").tail(batches)
    span = (recent.finished_at.iloc[-1] - recent.started_at.iloc[0]).total_seconds()
    scored = int(recent.rows_scored.sum())
    versioned = stats.dropna(subset=["model_version"])
    latest = versioned.iloc[-1] if not versioned.empty else None
    return Kpis(
        events_per_second=float(recent.rows_in.sum()) / span if span > 0 else None,
        anomaly_rate=float(recent.anomalies.sum()) / scored if scored else None,
        model_version=str(latest.model_version) if latest is not None else None,
        threshold=float(latest.threshold) if latest is not None else None,
        latency_p95_ms=float(recent.latency_p95_ms.iloc[-1]) if pd.notna(recent.latency_p95_ms.iloc[-1]) else None,
        quarantined=int(recent.rows_quarantined.sum()),
        batches=len(recent),
    )
