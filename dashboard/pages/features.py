"""Features: `feature_summary` per event-time window: mean with a std band and quantiles, per key where available."""
from __future__ import annotations

import pandas as pd
from dash import Dash, dcc, html

from dashboard.components import MUTED, ROW, when
from dashboard.context import Context
from dashboard.figures import empty_figure, feature_figure
from dashboard.pages import on_refresh

PATH, TITLE = "/features", "Features"
ALL_KEYS = "__all__"


def layout(ctx: Context) -> html.Div:
    features = list(ctx.config.features)
    return html.Div([
        html.Div([
            html.Div([html.Label("feature"), dcc.Dropdown(id="feature-name", options=features, value=features[0],
                                                          clearable=False)], style={"width": "260px"}),
            html.Div([html.Label("key"), dcc.Dropdown(id="feature-key", options=[{"label": "all keys", "value": ALL_KEYS}],
                                                      value=ALL_KEYS, clearable=False)], style={"width": "260px"}),
        ], style=ROW),
        html.Div(id="feature-summary-text", style={"color": MUTED, "margin": "8px 0"}),
        dcc.Graph(id="feature-graph", figure=empty_figure(ctx.no_data(), height=400)),
    ])


def refresh(ctx: Context, feature: str, key: str | None) -> dict[str, object]:
    """The chart for one feature (all keys when `key` is None), the key choices and a summary line."""
    summary = ctx.reader.feature_summary()
    all_keys = [{"label": "all keys", "value": ALL_KEYS}]
    if summary is None or summary.empty:
        message = ctx.no_data() if not ctx.reader.exists("events") else (
            "No feature summaries yet: the stream writes `feature_summary` when its first event-time window closes.")
        return {"feature-graph": empty_figure(message, height=400), "feature-key": all_keys,
                "feature-summary-text": message}
    key_col = ctx.config.schema.key
    keys = sorted(k for k in summary[key_col].dropna().unique())
    options = all_keys + [{"label": k, "value": k} for k in keys]
    mine = summary[(summary.feature == feature)
                   & (summary[key_col].isna() if key is None else (summary[key_col] == key))]
    who = "all keys" if key is None else key
    if mine.empty:
        message = f"No windows of {feature} for {who}" + ("" if keys or key is None else ": summaries are per key only")
        return {"feature-graph": empty_figure(message, height=400), "feature-key": options,
                "feature-summary-text": message}
    last = mine.iloc[-1]
    text = (f"{feature} for {who}: {len(mine)} windows from {when(mine.window_start.iloc[0])} to "
            f"{when(last.window_end)} UTC; latest window: {int(last['count']):,} values, mean {last['mean']:.3f}, "
            f"std {0 if pd.isna(last['std']) else last['std']:.3f}, p99 {last['p99']:.3f}")
    return {"feature-graph": feature_figure(mine, feature), "feature-key": options, "feature-summary-text": text}


def register(app: Dash, ctx: Context) -> None:
    on_refresh(app, {"feature-graph": "figure", "feature-key": "options", "feature-summary-text": "children"},
               lambda feature, key: refresh(ctx, feature or ctx.config.features[0],
                                            None if key in (None, ALL_KEYS) else key),
               ("feature-name", "value"), ("feature-key", "value"))
