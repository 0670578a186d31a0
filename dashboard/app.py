"""The Dash app: the page shell (navigation, pause, status line, refresh interval) and the page router."""
from __future__ import annotations

from dash import Dash, Input, Output, dcc, html

from dashboard.components import MUTED, when
from dashboard.context import Context
from dashboard.pages import alerts, anomalies, features, models, overview, quality
from dashboard.kpis import kpis
from lakehouse.config import Config, DashboardConfig

PAGES = (overview, anomalies, alerts, features, models, quality)
NAV = {"padding": "6px 12px", "borderRadius": "6px", "textDecoration": "none", "color": "#1f2937"}
NAV_ACTIVE = {**NAV, "background": "#1f2937", "color": "white"}


def page_for(path: str | None):
    """The page at `path` (a trailing slash is ignored), None for an unknown path."""
    wanted = (path or "/").rstrip("/") or "/"
    return next((p for p in PAGES if p.PATH == wanted), None)


def nav_id(page) -> str:
    return f"nav-{page.__name__.rsplit('.', 1)[-1]}"


def shell(settings: DashboardConfig) -> html.Div:
    """The page frame: navigation, the Pause button, the status line and the refresh timer (`[dashboard]`)."""
    links = [dcc.Link(p.TITLE, href=p.PATH, id=nav_id(p), style=NAV) for p in PAGES]
    return html.Div([
        dcc.Location(id="url"),
        html.Div([
            html.H2("isoguard", style={"margin": "0 16px 0 0"}),
            html.Nav(links, style={"display": "flex", "gap": "4px"}),
            html.Button("Pause", id="pause", n_clicks=0, style={"marginLeft": "auto"}),
        ], style={"display": "flex", "alignItems": "center", "gap": "8px", "margin": "8px 0"}),
        html.Div(id="status", style={"color": MUTED, "marginBottom": "10px"}),
        html.Div(id="page"),
        dcc.Interval(id="refresh", interval=int(settings.refresh_seconds * 1000)),
    ], style={"fontFamily": "system-ui, sans-serif", "maxWidth": "1280px", "margin": "0 auto", "padding": "12px"})


def status_line(ctx: Context, paused: bool) -> str:
    """How fresh the data is, or what to run first."""
    stats = ctx.reader.stream_stats()
    problems = "".join(f" Cannot read {problem}." for problem in ctx.reader.problems.values())
    if stats.empty:
        return ctx.no_data() + problems
    last = stats.iloc[-1]
    k = kpis(stats)
    text = (f"{int(stats.rows_in.tail(k.batches).sum()):,} events in the latest {k.batches} micro-batches; "
            f"batch {int(last.batch_id)} finished {when(last.finished_at)} UTC")
    return ("Paused: " if paused else "") + text + problems


def create_app(config: Config) -> Dash:
    ctx = Context.create(config)
    ctx.registry.snapshot()  # start reading MLflow now: the first page load should not wait for it
    app = Dash(__name__, title="isoguard", suppress_callback_exceptions=True, update_title=None)
    app.layout = shell(config.dashboard)

    @app.callback(Output("page", "children"), *[Output(nav_id(p), "style") for p in PAGES], Input("url", "pathname"))
    def _route(path):
        page = page_for(path)
        content = page.layout(ctx) if page else html.Div(f"No page at {path}: pick one above.")
        return (content, *[NAV_ACTIVE if p is page else NAV for p in PAGES])

    @app.callback(Output("refresh", "disabled"), Output("pause", "children"), Input("pause", "n_clicks"))
    def _pause(clicks):
        paused = bool(clicks and clicks % 2)
        return paused, "Resume" if paused else "Pause"

    @app.callback(Output("status", "children"), Input("refresh", "n_intervals"), Input("refresh", "disabled"))
    def _status(_, paused):
        return status_line(ctx, bool(paused))

    for page in PAGES:
        page.register(app, ctx)
    return app
