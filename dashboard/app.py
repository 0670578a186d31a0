"""The Dash app: layout and the refresh callback. Data comes from dashboard.data."""
from __future__ import annotations

from dash import Dash, Input, Output, dcc, html

from dashboard.data import Kpis, LakeReader, kpis
from dashboard.figures import empty_figure, rate_figure, score_timeline
from lakehouse.config import Config

NO_DATA = "No data yet: start the stream (make demo, or spark-submit streaming/job.py --config ...)."
NO_MODEL = "No model yet: events are stored; scores appear after the first retrain (spark-submit batch/retrain.py ...)."


def format_kpis(k: Kpis) -> dict[str, str]:
    """The text each KPI card shows."""
    return {
        "kpi-events-per-s": f"{k.events_per_second:,.0f}" if k.events_per_second is not None else "–",
        "kpi-anomaly-rate": f"{k.anomaly_rate:.2%}" if k.anomaly_rate is not None else "–",
        "kpi-model-version": f"v{k.model_version}" if k.model_version else "none yet",
        "kpi-latency": f"{k.latency_p95_ms / 1000:,.1f} s" if k.latency_p95_ms is not None else "–",
        "kpi-quarantined": f"{k.quarantined:,}",
    }


CARDS = [
    ("kpi-events-per-s", "events / s"),
    ("kpi-anomaly-rate", "anomaly rate"),
    ("kpi-model-version", "model version"),
    ("kpi-latency", "p95 latency"),
    ("kpi-quarantined", "quarantined"),
]

CARD_STYLE = {"border": "1px solid #dde1e7", "borderRadius": "8px", "padding": "12px 18px", "minWidth": "150px",
              "background": "#fafbfc"}


def layout(config: Config) -> html.Div:
    cards = [
        html.Div([html.Div(label, style={"color": "#5b6472", "fontSize": "13px"}),
                  html.Div("–", id=card_id, style={"fontSize": "28px", "fontWeight": 600})], style=CARD_STYLE)
        for card_id, label in CARDS
    ]
    return html.Div([
        html.H2("isoguard: live anomaly detection", style={"margin": "8px 0"}),
        html.Div(id="status", style={"color": "#5b6472", "marginBottom": "10px"}),
        html.Div(cards, style={"display": "flex", "gap": "12px", "flexWrap": "wrap"}),
        html.H4(f"Scores, last {config.dashboard.window_minutes} minutes of event time"),
        dcc.Graph(id="score-timeline", figure=empty_figure(NO_DATA)),
        html.H4("Throughput and anomaly rate per micro-batch"),
        dcc.Graph(id="rates", figure=empty_figure(NO_DATA)),
        dcc.Interval(id="refresh", interval=int(config.dashboard.refresh_seconds * 1000)),
    ], style={"fontFamily": "system-ui, sans-serif", "maxWidth": "1200px", "margin": "0 auto", "padding": "12px"})


def create_app(config: Config) -> Dash:
    reader = LakeReader(config)
    app = Dash(__name__, title="isoguard")
    app.layout = layout(config)
    outputs = [Output(card_id, "children") for card_id, _ in CARDS]
    outputs += [Output("score-timeline", "figure"), Output("rates", "figure"), Output("status", "children")]

    @app.callback(*outputs, Input("refresh", "n_intervals"))
    def refresh(_):
        stats = reader.stream_stats()
        k = kpis(stats)
        text = format_kpis(k)
        if stats.empty:
            return (*text.values(), empty_figure(NO_DATA), empty_figure(NO_DATA), NO_DATA)
        scores = reader.recent_scores(config.dashboard.window_minutes)
        s = config.schema
        timeline = score_timeline(scores, s.event_time, s.key) if not scores.empty else empty_figure(NO_MODEL)
        last = stats.iloc[-1]
        status = (f"{int(stats.rows_in.sum()):,} events in the last {len(stats)} micro-batches; "
                  f"latest batch {int(last.batch_id)} finished {last.finished_at:%Y-%m-%d %H:%M:%S} UTC")
        return (*text.values(), timeline, rate_figure(stats), status)

    return app
