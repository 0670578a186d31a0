"""The dashboard's pages: each module has PATH, TITLE, layout(ctx), refresh(ctx, ...) and register(app, ctx).

`refresh` is what the page's interval callback calls (and what benchmarks/dashboard_refresh.py times).
"""
from __future__ import annotations

from typing import Callable

from dash import Dash, Input, Output


def on_refresh(app: Dash, outputs: dict[str, str], compute: Callable[..., dict], *inputs: tuple[str, str]) -> None:
    """On every refresh tick, and when one of `inputs` ((element id, property) pairs) changes, send
    compute(*their values), a dict by element id, to `outputs` (element id -> property)."""
    @app.callback(*[Output(i, prop) for i, prop in outputs.items()], Input("refresh", "n_intervals"),
                  *[Input(i, prop) for i, prop in inputs])
    def _refresh(_, *values):
        shown = compute(*values)
        return tuple(shown[i] for i in outputs)
