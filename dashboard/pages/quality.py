"""Data quality: quarantined records by reason over time, and the latest ones as they arrived."""
from __future__ import annotations

import pandas as pd
from dash import Dash, dcc, html

from dashboard.components import MUTED, table, when
from dashboard.context import Context
from dashboard.figures import empty_figure, quarantine_figure
from dashboard.pages import on_refresh
from dashboard.kpis import counts_by_reason

PATH, TITLE = "/quality", "Data quality"
SAMPLE_ROWS = 20


def layout(ctx: Context) -> html.Div:
    return html.Div([
        html.Div(id="quality-summary", style={"color": MUTED, "margin": "6px 0"}),
        dcc.Graph(id="quarantine-graph", figure=empty_figure(ctx.no_data(), height=340)),
        html.H4("Latest quarantined records"),
        html.Div(id="quarantine-sample"),
    ])


def bucket_for(times: pd.Series) -> str:
    """Minutes for a short span, hours for a long one."""
    span = times.max() - times.min() if len(times) else pd.Timedelta(0)
    return "1min" if span <= pd.Timedelta(hours=3) else "1h"


def refresh(ctx: Context) -> dict[str, object]:
    quarantine = ctx.reader.quarantine()
    if quarantine is None:
        message = ctx.no_data()
        return {"quality-summary": message, "quarantine-graph": empty_figure(message, height=340),
                "quarantine-sample": None}
    if quarantine.empty:
        message = "Nothing quarantined: every record so far passed validation."
        return {"quality-summary": message, "quarantine-graph": empty_figure(message, height=340),
                "quarantine-sample": None}
    freq = bucket_for(quarantine.ingested_at)
    by_reason = quarantine.reason.value_counts()
    summary = (f"{len(quarantine):,} records quarantined in the 24 hours up to {when(quarantine.ingested_at.max())} UTC: "
               + ", ".join(f"{reason} {count:,}" for reason, count in by_reason.items()))
    sample = ctx.reader.quarantine_sample(SAMPLE_ROWS)
    shown = pd.DataFrame({"ingested (UTC)": sample.ingested_at.map(when), "reason": sample.reason,
                          "detail": sample.detail.fillna(""), "source": sample.source_file.fillna(""),
                          "raw": sample.raw.fillna("").str.slice(0, 200)})
    return {"quality-summary": summary, "quarantine-graph": quarantine_figure(counts_by_reason(quarantine, freq)),
            "quarantine-sample": table("quarantine-table", shown, page_size=SAMPLE_ROWS)}


def register(app: Dash, ctx: Context) -> None:
    on_refresh(app, {"quality-summary": "children", "quarantine-graph": "figure", "quarantine-sample": "children"},
               lambda: refresh(ctx))
