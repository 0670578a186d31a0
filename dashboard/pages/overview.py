"""Overview: is the stream healthy? Rates, latency, quarantine, open alerts, the model in use, drift."""
from __future__ import annotations

import numpy as np
import pandas as pd
from dash import Dash, dcc, html

from dashboard.components import MUTED, ROW, card, when
from dashboard.context import Context
from dashboard.figures import empty_figure, rate_figure
from dashboard.pages import on_refresh
from dashboard.kpis import Kpis, kpis
from dashboard.registry_view import promoted_text, window_text

PATH, TITLE = "/", "Overview"
CARDS = [
    ("kpi-events-per-s", "events / s"),
    ("kpi-latency", "p95 latency"),
    ("kpi-anomaly-rate", "anomaly rate"),
    ("kpi-quarantine-rate", "quarantine rate"),
    ("kpi-quarantined", "quarantined"),
    ("kpi-open-alerts", "open alerts"),
    ("kpi-model-version", "model version"),
]
OUTPUTS = [card_id for card_id, _ in CARDS] + ["model-detail", "model-warning", "overview-drift", "rates"]


def format_kpis(k: Kpis) -> dict[str, str]:
    """The text each stream KPI card shows (over the latest micro-batches)."""
    return {
        "kpi-events-per-s": f"{k.events_per_second:,.0f}" if k.events_per_second is not None else "–",
        "kpi-latency": f"{k.latency_p95_ms / 1000:,.1f} s" if k.latency_p95_ms is not None else "–",
        "kpi-anomaly-rate": f"{k.anomaly_rate:.2%}" if k.anomaly_rate is not None else "–",
        "kpi-quarantine-rate": f"{k.quarantine_rate:.2%}" if k.quarantine_rate is not None else "–",
        "kpi-quarantined": f"{k.quarantined:,}",
        "kpi-model-version": f"v{k.model_version}" if k.model_version else "none yet",
    }


def layout(ctx: Context) -> html.Div:
    cards = [card(cid, label, note_id="model-detail" if cid == "kpi-model-version" else None) for cid, label in CARDS]
    return html.Div([
        html.Div(cards, style=ROW),
        html.Div(id="model-warning", style={"color": "#b3261e", "margin": "8px 0"}),
        html.Div(id="overview-drift", style={"margin": "8px 0"}),
        html.H4("Per micro-batch"),
        dcc.Graph(id="rates", figure=empty_figure(ctx.no_data(), height=260)),
    ])


def model_detail(ctx: Context, stream_version: str | None) -> str:
    """The champion's training window and promotion time, from MLflow."""
    registry = ctx.registry.snapshot()
    if registry is None:
        return "reading the model registry…"
    if registry.error:
        return f"model registry unavailable: {registry.error}"
    champion = registry.champion
    if champion is None:
        return ctx.no_model()
    text = (f"champion v{champion.version}, trained on {window_text(champion) or 'an unrecorded window'}, "
            f"promoted {promoted_text(champion) or 'at registration ' + when(champion.registered_at)} UTC")
    if stream_version and stream_version != champion.version:
        text += f"; the stream still scores with v{stream_version} until it picks up the new champion"
    return text


def drift_status(drift: pd.Series | None) -> html.Div | None:
    """The latest drift check, shown only where a drift table exists."""
    if drift is None:
        return None
    flags = [c for c, v in drift.items() if isinstance(v, (bool, np.bool_))]
    drifting = bool(drift[flags[0]]) if flags else None
    parts = [f"{c} {drift[c]:.3f}" for c in ("score", "threshold") if c in drift and pd.notna(drift[c])]
    label = {True: "drift detected", False: "no drift", None: "drift check"}[drifting]
    return html.Div([html.B(label, id="drift-flag", style={"color": "#b3261e" if drifting else "#1b7f3b"}),
                     html.Span(" · " + ", ".join(parts) if parts else "", style={"color": MUTED})])


def refresh(ctx: Context) -> dict[str, object]:
    """Every output of the page, by element id."""
    stats = ctx.reader.stream_stats()
    k = kpis(stats)
    text = format_kpis(k)
    alerts = ctx.reader.alerts()
    text["kpi-open-alerts"] = "–" if alerts is None else f"{int((alerts.status == 'open').sum()) if len(alerts) else 0:,}"
    warning = None
    if not stats.empty and "model_status" in stats and pd.notna(stats.model_status.iloc[-1]):
        warning = f"model refused by the stream: {stats.model_status.iloc[-1]}"
    return {**text, "model-detail": model_detail(ctx, k.model_version), "model-warning": warning,
            "overview-drift": drift_status(ctx.reader.drift()),
            "rates": empty_figure(ctx.no_data(), height=260) if stats.empty else rate_figure(stats)}


def register(app: Dash, ctx: Context) -> None:
    on_refresh(app, {i: "figure" if i == "rates" else "children" for i in OUTPUTS}, lambda: refresh(ctx))
