"""Plotly figures: pure functions from DataFrames to figures."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

NORMAL_COLOR, ANOMALY_COLOR, THRESHOLD_COLOR = "#8a94a6", "#d62728", "#ff7f0e"


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 15}, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=420, template="plotly_white")
    return fig


def score_timeline(scores: pd.DataFrame, time_col: str, key_col: str) -> go.Figure:
    """Every recent score over event time; anomalies in red; the current threshold as a line."""
    normal, anomalous = scores[~scores.is_anomaly], scores[scores.is_anomaly]
    fig = go.Figure()
    fig.add_trace(go.Scattergl(x=normal[time_col], y=normal.anomaly_score, mode="markers", name="normal",
                               marker={"size": 4, "color": NORMAL_COLOR, "opacity": 0.5},
                               text=normal[key_col], hovertemplate="%{text}<br>%{x}<br>score %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scattergl(x=anomalous[time_col], y=anomalous.anomaly_score, mode="markers", name="anomaly",
                               marker={"size": 8, "color": ANOMALY_COLOR, "symbol": "x"},
                               text=anomalous[key_col], hovertemplate="%{text}<br>%{x}<br>score %{y:.3f}<extra></extra>"))
    threshold = float(scores.threshold.iloc[-1])
    fig.add_hline(y=threshold, line={"color": THRESHOLD_COLOR, "dash": "dash"},
                  annotation_text=f"threshold {threshold:.3f}", annotation_position="top left")
    fig.update_layout(height=420, template="plotly_white", margin={"l": 50, "r": 20, "t": 30, "b": 40},
                      yaxis_title="anomaly score", xaxis_title="event time (UTC)", uirevision="timeline",
                      legend={"orientation": "h", "y": 1.08})
    return fig


def rate_figure(stats: pd.DataFrame) -> go.Figure:
    """Input rate and anomaly rate per micro-batch."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=stats.finished_at, y=stats.processing_rate, name="processing rate (events/s)", mode="lines"))
    fig.add_trace(go.Scatter(x=stats.finished_at, y=stats.anomaly_rate * 100, name="anomaly rate %", mode="lines",
                             yaxis="y2"))
    fig.update_layout(height=240, template="plotly_white", margin={"l": 50, "r": 50, "t": 20, "b": 30},
                      yaxis={"title": "events/s"}, uirevision="rates",
                      yaxis2={"title": "anomaly %", "overlaying": "y", "side": "right"},
                      legend={"orientation": "h", "y": 1.15})
    return fig
