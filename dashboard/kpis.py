"""Pure computations on table rows: KPIs, thinning, histograms, counts. No I/O here."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

KPI_BATCHES = 10      # KPIs summarise the latest micro-batches
SCORE_BINS = np.linspace(0.0, 1.0, 51)


@dataclass(frozen=True)
class Kpis:
    events_per_second: float | None
    anomaly_rate: float | None
    quarantine_rate: float | None
    model_version: str | None
    threshold: float | None
    latency_p95_ms: float | None
    quarantined: int
    batches: int


def kpis(stats: pd.DataFrame, batches: int = KPI_BATCHES) -> Kpis:
    """Rates over the latest `batches` micro-batches of stream_stats."""
    if stats.empty:
        return Kpis(None, None, None, None, None, None, 0, 0)
    recent = stats.sort_values("finished_at").tail(batches)
    span = (recent.finished_at.iloc[-1] - recent.started_at.iloc[0]).total_seconds()
    rows_in, scored = int(recent.rows_in.sum()), int(recent.rows_scored.sum())
    versioned = stats.dropna(subset=["model_version"])
    latest = versioned.iloc[-1] if not versioned.empty else None
    p95 = recent.latency_p95_ms.iloc[-1]
    return Kpis(
        events_per_second=float(rows_in) / span if span > 0 else None,
        anomaly_rate=float(recent.anomalies.sum()) / scored if scored else None,
        quarantine_rate=float(recent.rows_quarantined.sum()) / rows_in if rows_in else None,
        model_version=str(latest.model_version) if latest is not None else None,
        threshold=float(latest.threshold) if latest is not None and pd.notna(latest.threshold) else None,
        latency_p95_ms=float(p95) if pd.notna(p95) else None,
        quarantined=int(recent.rows_quarantined.sum()),
        batches=len(recent),
    )


def thin_out(selected: np.ndarray, flagged: np.ndarray, scores: np.ndarray, limit: int) -> np.ndarray:
    """Row numbers of at most `limit` of the `selected` rows: anomalies first (the highest scores when more
    than half the limit), the rest a regular stride through the other rows, so they spread over the window."""
    anomalies = np.flatnonzero(selected & flagged)
    normal = np.flatnonzero(selected & ~flagged)
    if len(anomalies) + len(normal) <= limit:
        return np.sort(np.concatenate([anomalies, normal]))
    if len(anomalies) > limit // 2:
        anomalies = anomalies[np.argpartition(-scores[anomalies], limit // 2)[: limit // 2]]
    step = -(-len(normal) // (limit - len(anomalies)))
    return np.sort(np.concatenate([normal[::step], anomalies]))


def score_histograms(rows: pa.Table) -> dict[str, dict]:
    """Per model version: counts of anomaly_score in SCORE_BINS, rows and anomalies (summable across files)."""
    out = {}
    if rows.num_rows == 0:
        return out
    versions = rows["model_version"].to_numpy(zero_copy_only=False)
    scores = rows["anomaly_score"].to_numpy(zero_copy_only=False)
    flagged = rows["is_anomaly"].to_numpy(zero_copy_only=False)
    for version in np.unique(versions.astype(str)):
        mine = versions == version
        out[version] = {"counts": np.histogram(scores[mine], SCORE_BINS)[0], "rows": int(mine.sum()),
                        "anomalies": int(flagged[mine].sum())}
    return out


def merge_histograms(parts: list[dict[str, dict]]) -> dict[str, dict]:
    total: dict[str, dict] = {}
    for part in parts:
        for version, h in part.items():
            if version not in total:
                total[version] = {"counts": np.zeros(len(SCORE_BINS) - 1, dtype=np.int64), "rows": 0, "anomalies": 0}
            total[version]["counts"] += h["counts"]
            total[version]["rows"] += h["rows"]
            total[version]["anomalies"] += h["anomalies"]
    return total


def latest_alerts(alerts: pd.DataFrame) -> pd.DataFrame:
    """One row per alert_id (its latest update), open incidents first, then the most recent."""
    if alerts.empty:
        return alerts
    latest = alerts.sort_values("updated_at").drop_duplicates("alert_id", keep="last")
    latest = latest.assign(_open=latest.status != "open")
    return latest.sort_values(["_open", "ended_at"], ascending=[True, False]).drop(columns="_open").reset_index(drop=True)


def counts_by_reason(quarantine: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Quarantined records per reason per `freq` bucket of ingestion time: columns bucket, reason, count."""
    if quarantine.empty:
        return pd.DataFrame(columns=["bucket", "reason", "count"])
    bucket = quarantine.ingested_at.dt.floor(freq)
    return (quarantine.assign(bucket=bucket).groupby(["bucket", "reason"]).size()
            .rename("count").reset_index().sort_values("bucket"))
