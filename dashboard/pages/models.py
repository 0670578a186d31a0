"""Models: the registered versions (metrics, champion and challenger, promotion, gate decisions) and their scores."""
from __future__ import annotations

import pandas as pd
from dash import Dash, dcc, html

from dashboard.components import MUTED, empty_state, number, table, when
from dashboard.context import Context
from dashboard.figures import empty_figure, score_distribution_figure
from dashboard.pages import on_refresh
from dashboard.registry_view import COUNT_METRICS, DISPLAY_METRICS, Registry, promoted_text, window_text
from models.registry import CHAMPION

PATH, TITLE = "/models", "Models"
DISTRIBUTION_HOURS = 24


def layout(ctx: Context) -> html.Div:
    return html.Div([
        html.Div(id="models-summary", style={"color": MUTED, "margin": "6px 0"}),
        html.Div(id="models-versions"),
        html.H4(f"Score distribution per model version (scores of the latest {DISTRIBUTION_HOURS} h of event time)"),
        dcc.Graph(id="score-distribution", figure=empty_figure(ctx.no_data(), height=360)),
    ])


def versions_frame(registry: Registry) -> pd.DataFrame:
    """One row per version: role, dates, training window, gate decision, threshold and the metrics it has."""
    metrics = [m for m in DISPLAY_METRICS if any(m in v.metrics for v in registry.versions)]
    rows = []
    for v in registry.versions:
        row = {"version": f"v{v.version}", "role": ", ".join(v.aliases), "registered (UTC)": when(v.registered_at),
               "promoted": promoted_text(v) or "", "gate decision": v.gate_decision or "",
               "training window": window_text(v), "threshold": number(v.threshold, "{:.4f}")}
        for m in metrics:
            row[m] = number(v.metrics.get(m), "{:,.0f}" if m in COUNT_METRICS else "{:.3f}")
        rows.append(row)
    return pd.DataFrame(rows)


def refresh(ctx: Context) -> dict[str, object]:
    registry = ctx.registry.snapshot()
    histograms = ctx.reader.score_distribution(DISTRIBUTION_HOURS)
    if registry is None:
        summary, versions = "Reading the model registry…", None
    elif registry.error:
        summary, versions = f"The model registry could not be read: {registry.error}", None
    elif not registry.versions:
        summary, versions = ctx.no_model(), empty_state(ctx.no_model(), "models-empty")
    else:
        champion, challenger = registry.champion, registry.challenger
        summary = (f"{len(registry.versions)} versions of {ctx.config.model.name}; champion: "
                   f"{'v' + champion.version if champion else 'none'}; challenger: "
                   f"{'v' + challenger.version if challenger else 'none'}")
        versions = table("models-table", versions_frame(registry), page_size=20, style_data_conditional=[
            {"if": {"filter_query": f'{{role}} contains "{CHAMPION}"'}, "backgroundColor": "#eef7ee"}])
    thresholds = {v.version: v.threshold for v in (registry.versions if registry else ()) if v.threshold is not None}
    if not histograms:
        message = ctx.no_scores() if ctx.reader.exists("events") else ctx.no_data()
        figure = empty_figure(message, height=360)
    else:
        figure = score_distribution_figure(histograms, thresholds)
    return {"models-summary": summary, "models-versions": versions, "score-distribution": figure}


def register(app: Dash, ctx: Context) -> None:
    on_refresh(app, {"models-summary": "children", "models-versions": "children", "score-distribution": "figure"},
               lambda: refresh(ctx))
