"""Anomalies: the score timeline, filtered by key and time range; click a point for its details and label it."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
from dash import Dash, Input, Output, State, callback_context, dcc, html, no_update

from dashboard.components import MUTED, ROW, empty_state, number, when
from dashboard.context import Context
from dashboard.figures import empty_figure, score_timeline
from dashboard.verdicts import add_label, default_analyst
from dashboard.pages import on_refresh

PATH, TITLE = "/anomalies", "Anomalies"
RANGES = (5, 10, 30, 60, 360, 1440)
HINT = "Click a point of the timeline to see its features, its top contributing features and its raw event."


@dataclass(frozen=True)
class Filters:
    minutes: int
    key: str | None = None


def range_label(minutes: int) -> str:
    return f"last {minutes} min" if minutes < 60 else f"last {minutes // 60} h"


def layout(ctx: Context) -> html.Div:
    default = ctx.config.dashboard.window_minutes
    ranges = sorted(set(RANGES) | {default})
    return html.Div([
        html.Div([
            html.Div([html.Label("key"), dcc.Dropdown(id="anomaly-key", options=[], placeholder="all keys")],
                     style={"width": "260px"}),
            html.Div([html.Label("time range (event time, back from the newest event)"),
                      dcc.Dropdown(id="anomaly-range", options=[{"label": range_label(m), "value": m} for m in ranges],
                                   value=default, clearable=False)], style={"width": "320px"}),
        ], style=ROW),
        html.Div(id="anomaly-summary", style={"color": MUTED, "margin": "8px 0"}),
        dcc.Graph(id="score-timeline", figure=empty_figure(ctx.no_data())),
        dcc.Store(id="selected-event"),
        html.Div(HINT, id="point-detail", style={"color": MUTED}),
        html.Div([
            dcc.Input(id="event-analyst", placeholder="analyst", value=default_analyst(), style={"width": "160px"}),
            dcc.Input(id="event-note", placeholder="note (optional)", style={"width": "320px"}),
            html.Button("True positive", id="label-event-tp", disabled=True),
            html.Button("False positive", id="label-event-fp", disabled=True),
            html.Span(id="event-label-result", style={"color": MUTED}),
        ], style={**ROW, "marginTop": "10px", "alignItems": "center"}),
    ])


def refresh(ctx: Context, filters: Filters) -> dict[str, object]:
    """The timeline, the key choices and the one-line summary for these filters."""
    s = ctx.config.schema
    window = ctx.reader.score_window(filters.minutes, filters.key)
    if window is None:
        message = ctx.no_scores() if ctx.reader.exists("events") else ctx.no_data()
        return {"score-timeline": empty_figure(message), "anomaly-key": [], "anomaly-summary": message}
    options = [{"label": k, "value": k} for k in window.keys]
    summary = (f"{window.rows:,} scores and {window.anomalies:,} anomalies between {when(window.start)} and "
               f"{when(window.end)} UTC" + (f" for {filters.key}" if filters.key else "")
               + (f"; showing {len(window.points):,} (every anomaly up to half of them)"
                  if len(window.points) < window.rows else "")
               + ("; the range is narrowed to the newest scores, it holds too many to read" if window.narrowed else ""))
    if window.points.empty:
        return {"score-timeline": empty_figure(f"No scores for {filters.key} in this range."),
                "anomaly-key": options, "anomaly-summary": summary}
    return {"score-timeline": score_timeline(window.points, s.event_time, s.key, s.event_id),
            "anomaly-key": options, "anomaly-summary": summary}


def clicked_event(click: dict | None) -> tuple[str, pd.Timestamp] | None:
    """(event id, event time) of a clicked timeline point."""
    if not click or not click.get("points"):
        return None
    point = click["points"][0]
    event_id = point.get("customdata")
    event_id = event_id[0] if isinstance(event_id, list) else event_id
    if not event_id or "x" not in point:
        return None
    clicked = pd.Timestamp(point["x"])  # plotly gives the UTC wall time it drew, without a zone
    return str(event_id), clicked.tz_localize("UTC") if clicked.tzinfo is None else clicked.tz_convert("UTC")


def point_detail(ctx: Context, event_id: str, event_time: pd.Timestamp) -> tuple[html.Div, dict | None]:
    """The panel for one event: score, features, top contributing features, raw event."""
    s = ctx.config.schema
    scored = ctx.reader.scored_event(event_id, event_time.to_pydatetime())
    if scored is None:
        return empty_state(f"Event {event_id} is no longer in the scores table."), None
    top = scored.get("top_features") or []
    features = html.Table([html.Tr([html.Th("feature"), html.Th("value")])] + [
        html.Tr([html.Td(f, style={"fontWeight": 700 if f in top else 400}), html.Td(number(scored.get(f), "{:,.4f}"))])
        for f in ctx.config.features], id="point-features", style={"borderSpacing": "12px 2px"})
    raw = ctx.reader.raw_event(event_id, event_time.to_pydatetime())
    raw_text = json.dumps(raw, default=str, indent=2) if raw else "not found in the events table"
    verdict = "anomaly" if scored["is_anomaly"] else "normal"
    header = (f"{scored[s.event_id]} · {scored[s.key]} · {when(scored[s.event_time])} UTC · score "
              f"{scored['anomaly_score']:.4f} (threshold {scored['threshold']:.4f}, model v{scored['model_version']}): "
              f"{verdict}")
    panel = html.Div([
        html.H4(header, id="point-header", style={"margin": "6px 0"}),
        html.Div([
            html.Div([html.B("features"), features]),
            html.Div([html.B("top contributing features"),
                      html.Ol([html.Li(f) for f in top], id="point-top-features") if top else
                      html.Div("none: computed for anomalies only", id="point-top-features", style={"color": MUTED})]),
            html.Div([html.B("raw event (events table)"), html.Pre(raw_text, id="point-raw",
                                                                    style={"fontSize": "12px", "margin": 0})]),
        ], style={**ROW, "gap": "40px"}),
    ])
    selected = {"event_id": scored[s.event_id], "key": scored[s.key], "event_time": scored[s.event_time].isoformat()}
    return panel, selected


def register(app: Dash, ctx: Context) -> None:
    on_refresh(app, {"score-timeline": "figure", "anomaly-key": "options", "anomaly-summary": "children"},
               lambda minutes, key: refresh(ctx, Filters(int(minutes or ctx.config.dashboard.window_minutes), key or None)),
               ("anomaly-range", "value"), ("anomaly-key", "value"))

    @app.callback(Output("point-detail", "children"), Output("selected-event", "data"),
                  Output("label-event-tp", "disabled"), Output("label-event-fp", "disabled"),
                  Input("score-timeline", "clickData"), prevent_initial_call=True)
    def _click(click):
        event = clicked_event(click)
        if event is None:
            return no_update, no_update, no_update, no_update
        panel, selected = point_detail(ctx, *event)
        return panel, selected, selected is None, selected is None

    @app.callback(Output("event-label-result", "children"),
                  Input("label-event-tp", "n_clicks"), Input("label-event-fp", "n_clicks"),
                  State("selected-event", "data"), State("event-analyst", "value"), State("event-note", "value"),
                  prevent_initial_call=True)
    def _label(tp, fp, selected, analyst, note):
        if not selected:
            return "click a point first"
        verdict = "true_positive" if callback_context.triggered_id == "label-event-tp" else "false_positive"
        at = pd.Timestamp(selected["event_time"]).to_pydatetime()
        add_label(ctx.config, "event", selected["event_id"], selected["key"], at, at, verdict, analyst, note)
        return f"labelled event {selected['event_id']} {verdict.replace('_', ' ')}"
