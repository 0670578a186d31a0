"""Alerts: the incidents table; mark an incident a true or false positive (appends to `labels`)."""
from __future__ import annotations

import hashlib
import json

import pandas as pd
from dash import Dash, Input, Output, State, callback_context, dcc, html, no_update

from dashboard.components import MUTED, ROW, empty_state, table, when
from dashboard.context import Context
from dashboard.verdicts import add_label, default_analyst, latest_verdicts

PATH, TITLE = "/alerts", "Alerts"
MAX_ROWS = 500
HIDDEN, SHOWN = {"display": "none"}, {"display": "block"}


def columns(ctx: Context) -> list[str]:
    return ["alert", ctx.config.schema.key, "status", "started (UTC)", "ended (UTC)", "anomalies", "peak score",
            "top features", "model", "verdict"]


def layout(ctx: Context) -> html.Div:
    return html.Div([
        html.Div(id="alerts-summary", style={"color": MUTED, "margin": "6px 0"}),
        html.Div(id="alerts-empty"),
        html.Div(table("alerts-table", pd.DataFrame(columns=columns(ctx)), row_selectable="single",
                       style_data_conditional=[{"if": {"filter_query": '{status} = "open"'},
                                                "backgroundColor": "#fff4f2"}]),
                 id="alerts-table-wrap", style=HIDDEN),
        dcc.Store(id="alerts-fingerprint"),
        html.Div([
            dcc.Input(id="alert-analyst", placeholder="analyst", value=default_analyst(), style={"width": "160px"}),
            dcc.Input(id="alert-note", placeholder="note (optional)", style={"width": "320px"}),
            html.Button("True positive", id="label-alert-tp"),
            html.Button("False positive", id="label-alert-fp"),
            html.Span(id="alert-label-result", style={"color": MUTED}),
        ], style={**ROW, "marginTop": "10px", "alignItems": "center"}),
    ])


def incidents_rows(ctx: Context, alerts: pd.DataFrame, labels: pd.DataFrame) -> list[dict]:
    """The incidents as the table shows them (row id = alert id), with the latest verdict given to each."""
    key = ctx.config.schema.key
    verdicts = latest_verdicts(labels)
    shown = alerts.head(MAX_ROWS)
    frame = pd.DataFrame({
        "id": shown.alert_id, "alert": shown.alert_id, key: shown[key], "status": shown.status,
        "started (UTC)": shown.started_at.map(when), "ended (UTC)": shown.ended_at.map(when),
        "anomalies": shown.anomalies, "peak score": shown.peak_score.round(4),
        "top features": shown.top_features.map(lambda f: ", ".join(f) if f is not None else ""),
        "model": shown.model_version.map(lambda v: f"v{v}" if isinstance(v, str) and v else ""),
        "verdict": shown.alert_id.map(lambda a: verdicts.get(a, "").replace("_", " ")),
    })
    return frame.to_dict("records")


def refresh(ctx: Context) -> dict[str, object]:
    """rows (None when there is nothing to show), the empty-state message and the summary line."""
    alerts = ctx.reader.alerts()
    if alerts is None:
        message = ctx.no_data() if not ctx.reader.exists("events") else (
            "No alerts table yet: the stream writes incidents to `alerts` once it runs this release.")
        return {"rows": None, "empty": message, "summary": ""}
    if alerts.empty:
        return {"rows": None, "empty": "No incidents yet: no scored event has crossed the threshold.", "summary": ""}
    opened = int((alerts.status == "open").sum())
    summary = f"{opened:,} open and {len(alerts) - opened:,} closed incidents" + (
        f" (showing the first {MAX_ROWS})" if len(alerts) > MAX_ROWS else "") + \
        "; select one and mark it a true or false positive."
    return {"rows": incidents_rows(ctx, alerts, ctx.reader.labels()), "empty": None, "summary": summary}


def register(app: Dash, ctx: Context) -> None:
    @app.callback(Output("alerts-table", "data"), Output("alerts-table-wrap", "style"), Output("alerts-empty", "children"),
                  Output("alerts-summary", "children"), Output("alerts-fingerprint", "data"),
                  Input("refresh", "n_intervals"), Input("alert-label-result", "children"),
                  State("alerts-fingerprint", "data"))
    def _refresh(_, __, shown):
        values = refresh(ctx)
        empty = empty_state(values["empty"], "alerts-empty-state") if values["empty"] else None
        rows = values["rows"] or []
        fingerprint = hashlib.sha1(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()
        # Send the rows only when they changed, so a selection survives the refresh.
        data = no_update if fingerprint == shown else rows
        return data, SHOWN if rows else HIDDEN, empty, values["summary"], fingerprint

    @app.callback(Output("alert-label-result", "children"),
                  Input("label-alert-tp", "n_clicks"), Input("label-alert-fp", "n_clicks"),
                  State("alerts-table", "selected_row_ids"), State("alert-analyst", "value"),
                  State("alert-note", "value"), prevent_initial_call=True)
    def _label(tp, fp, selected, analyst, note):
        if not selected:
            return "select an incident in the table first"
        alerts = ctx.reader.alerts()
        match = alerts[alerts.alert_id == selected[0]] if alerts is not None else pd.DataFrame()
        if match.empty:
            return f"incident {selected[0]} is no longer in the alerts table"
        row = match.iloc[0]
        verdict = "true_positive" if callback_context.triggered_id == "label-alert-tp" else "false_positive"
        add_label(ctx.config, "alert", row.alert_id, row[ctx.config.schema.key], row.started_at.to_pydatetime(),
                  row.ended_at.to_pydatetime(), verdict, analyst, note)
        return f"labelled incident {row.alert_id} {verdict.replace('_', ' ')}"
