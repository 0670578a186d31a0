"""Plotly figures as plain dicts: pure functions from DataFrames to figures.

Plain dicts, not plotly.graph_objects: building and validating a graph object
(template included) costs tens of milliseconds per figure, more than a whole
refresh should; Dash sends a dict to plotly.js just the same.

Every user-supplied string that plotly draws (keys in hovers, feature names in
axis titles, reasons and versions in legends, messages in annotations) goes
through `plain` first. Dash components escape their text, but plotly renders
a subset of HTML in hovers, titles, legends, ticks and annotations: a
`device_id` holding `<a href=...>` became a live outside link in the hover.
"""
from __future__ import annotations

import html
from functools import cache

import numpy as np
import pandas as pd

from dashboard.kpis import SCORE_BINS

NORMAL_COLOR, ANOMALY_COLOR, THRESHOLD_COLOR = "#8a94a6", "#d62728", "#ff7f0e"
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def plain(value):
    """User-supplied text as plotly must receive it: `<`, `>` and `&` escaped, so that plotly shows the
    characters instead of reading tags (it decodes the entities back when it draws). A Series is escaped
    value by value (each distinct value once; missing values stay missing), anything else becomes a string."""
    if isinstance(value, pd.Series):
        escaped = {v: html.escape(str(v), quote=False) for v in value.dropna().unique()}
        return value.map(escaped)
    return html.escape("" if value is None else str(value), quote=False)


@cache
def template() -> dict:
    import plotly.io as pio

    return pio.templates["plotly_white"].to_plotly_json()


def layout(height: int, **kwargs) -> dict:
    return {"template": template(), "height": height, "margin": {"l": 50, "r": 20, "t": 30, "b": 40},
            "legend": {"orientation": "h", "y": 1.1}, **kwargs}


def axis_title(text: str) -> dict:
    return {"title": {"text": plain(text)}}


def empty_figure(message: str, height: int = 420) -> dict:
    return {"data": [], "layout": layout(height, xaxis={"visible": False}, yaxis={"visible": False}, annotations=[
        {"text": plain(message), "showarrow": False, "font": {"size": 15}, "xref": "paper", "yref": "paper",
         "x": 0.5, "y": 0.5}])}


def score_timeline(scores: pd.DataFrame, time_col: str, key_col: str, id_col: str) -> dict:
    """Scores over event time; anomalies as red crosses; the current threshold as a line. Points carry their event id."""
    normal, anomalous = scores[~scores.is_anomaly], scores[scores.is_anomaly]
    hover = "%{text}<br>%{x}<br>score %{y:.3f}<extra></extra>"
    threshold = float(scores.threshold.iloc[-1])
    data = [
        {"type": "scattergl", "x": normal[time_col], "y": normal.anomaly_score, "mode": "markers", "name": "normal",
         "marker": {"size": 5, "color": NORMAL_COLOR, "opacity": 0.5}, "text": plain(normal[key_col]),
         "customdata": normal[id_col], "hovertemplate": hover},
        {"type": "scatter", "x": anomalous[time_col], "y": anomalous.anomaly_score, "mode": "markers",
         "name": "anomaly", "marker": {"size": 10, "color": ANOMALY_COLOR, "symbol": "x"},
         "text": plain(anomalous[key_col]),
         "customdata": anomalous[id_col], "hovertemplate": hover},
    ]
    return {"data": data, "layout": layout(
        420, yaxis=axis_title("anomaly score"), xaxis=axis_title("event time (UTC)"), uirevision="timeline",
        clickmode="event", hovermode="closest",
        shapes=[{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": threshold, "y1": threshold,
                 "line": {"color": THRESHOLD_COLOR, "dash": "dash"}}],
        annotations=[{"text": f"threshold {threshold:.3f}", "xref": "paper", "x": 0, "y": threshold,
                      "xanchor": "left", "yanchor": "bottom", "showarrow": False}])}


def rate_figure(stats: pd.DataFrame) -> dict:
    """Processing rate, anomaly rate and quarantine rate per micro-batch."""
    quarantined = 100 * stats.rows_quarantined / stats.rows_in.where(stats.rows_in > 0)
    data = [
        {"type": "scatter", "x": stats.finished_at, "y": stats.processing_rate, "name": "processing rate (events/s)",
         "mode": "lines"},
        {"type": "scatter", "x": stats.finished_at, "y": stats.anomaly_rate * 100, "name": "anomaly rate %",
         "mode": "lines", "yaxis": "y2"},
        {"type": "scatter", "x": stats.finished_at, "y": quarantined, "name": "quarantine rate %", "mode": "lines",
         "yaxis": "y2", "line": {"dash": "dot"}},
    ]
    return {"data": data, "layout": layout(
        260, yaxis=axis_title("events/s"), uirevision="rates", legend={"orientation": "h", "y": 1.18},
        yaxis2={**axis_title("%"), "overlaying": "y", "side": "right", "rangemode": "tozero"})}


def feature_figure(windows: pd.DataFrame, feature: str) -> dict:
    """One feature per window: mean with a +/- 1 std band, and the p50, p95 and p99 lines."""
    w = windows.sort_values("window_start")
    x, mean, std = w.window_start, w["mean"], w["std"].fillna(0)
    data = [
        {"type": "scatter", "x": x, "y": mean + std, "mode": "lines", "line": {"width": 0}, "showlegend": False,
         "hoverinfo": "skip"},
        {"type": "scatter", "x": x, "y": mean - std, "mode": "lines", "line": {"width": 0}, "fill": "tonexty",
         "fillcolor": "rgba(31,119,180,0.18)", "name": "mean ± std"},
        {"type": "scatter", "x": x, "y": mean, "mode": "lines+markers", "name": "mean", "line": {"color": PALETTE[0]}},
    ] + [{"type": "scatter", "x": x, "y": w[q], "mode": "lines", "name": q, "line": {"dash": dash, "width": 1.5}}
         for q, dash in (("p50", "dot"), ("p95", "dash"), ("p99", "longdash"))]
    return {"data": data, "layout": layout(400, yaxis=axis_title(feature), xaxis=axis_title("window start (UTC)"),
                                           uirevision=f"feature-{feature}")}


def score_distribution_figure(histograms: dict[str, dict], thresholds: dict[str, float]) -> dict:
    """Share of scores per bin, one line per model version, with each version's threshold dashed."""
    centers = (SCORE_BINS[:-1] + SCORE_BINS[1:]) / 2
    data, shapes = [], []
    for i, (version, h) in enumerate(sorted(histograms.items(), key=lambda kv: (len(kv[0]), kv[0]))):
        color = PALETTE[i % len(PALETTE)]
        rows = max(h["rows"], 1)
        data.append({"type": "scatter", "x": centers, "y": np.asarray(h["counts"]) / rows, "mode": "lines",
                     "line": {"shape": "hvh", "color": color},
                     "name": plain(f"v{version} ({h['rows']:,} scores, {h['anomalies'] / rows:.2%} anomalies)")})
        if thresholds.get(version) is not None:
            shapes.append({"type": "line", "yref": "paper", "y0": 0, "y1": 1, "x0": thresholds[version],
                           "x1": thresholds[version], "line": {"color": color, "dash": "dash", "width": 1}})
    return {"data": data, "layout": layout(360, xaxis=axis_title("anomaly score"), yaxis=axis_title("share of scores"),
                                           uirevision="dist", shapes=shapes)}


def quarantine_figure(counts: pd.DataFrame) -> dict:
    """Quarantined records per reason per time bucket, stacked."""
    data = [{"type": "bar", "x": part.bucket, "y": part["count"], "name": plain(reason),
             "marker": {"color": PALETTE[i % len(PALETTE)]}}
            for i, (reason, part) in enumerate(counts.groupby("reason"))]
    return {"data": data, "layout": layout(340, barmode="stack", yaxis=axis_title("records"),
                                           xaxis=axis_title("ingested (UTC)"), uirevision="quarantine")}
