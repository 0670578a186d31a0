"""Small layout pieces the pages share."""
from __future__ import annotations

import pandas as pd
from dash import dash_table, html

MUTED = "#5b6472"
CARD_STYLE = {"border": "1px solid #dde1e7", "borderRadius": "8px", "padding": "12px 18px", "minWidth": "150px",
              "background": "#fafbfc"}
ROW = {"display": "flex", "gap": "12px", "flexWrap": "wrap", "alignItems": "flex-start"}


def card(card_id: str, label: str, value: str = "–", note_id: str | None = None) -> html.Div:
    children = [html.Div(label, style={"color": MUTED, "fontSize": "13px"}),
                html.Div(value, id=card_id, style={"fontSize": "28px", "fontWeight": 600})]
    if note_id:
        children.append(html.Div(id=note_id, style={"color": MUTED, "fontSize": "12px", "maxWidth": "360px"}))
    return html.Div(children, style=CARD_STYLE)


def empty_state(message: str, element_id: str | None = None) -> html.Div:
    """A message in place of a chart or table, naming what to run."""
    props = {"id": element_id} if element_id else {}
    return html.Div(message, className="empty-state", style={
        "padding": "28px", "border": "1px dashed #c4cad3", "borderRadius": "8px", "color": MUTED,
        "background": "#fbfcfd", "fontSize": "15px"}, **props)


def when(value) -> str:
    """A timestamp as the dashboard shows it (UTC, to the second); '–' when missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    if isinstance(value, str):
        return value
    stamp = pd.Timestamp(value)
    return f"{stamp.tz_convert('UTC') if stamp.tzinfo else stamp:%Y-%m-%d %H:%M:%S}"


def number(value, fmt: str = "{:,.3f}") -> str:
    if value is None or pd.isna(value):
        return "–"
    return fmt.format(value)


def table(table_id: str, frame: pd.DataFrame, page_size: int = 15, columns: list[str] | None = None,
          **kwargs) -> dash_table.DataTable:
    """A plain sortable table of `frame` (values already formatted for display); `columns` to show (default all)."""
    return dash_table.DataTable(
        id=table_id, data=frame.to_dict("records"), columns=[{"name": c, "id": c} for c in columns or frame.columns],
        page_size=page_size, sort_action="native", style_as_list_view=True,
        style_cell={"fontFamily": "system-ui, sans-serif", "fontSize": "13px", "padding": "4px 8px",
                    "textAlign": "left", "maxWidth": "420px", "whiteSpace": "normal", "height": "auto"},
        style_header={"fontWeight": 600, "background": "#f1f3f6"}, **kwargs)

