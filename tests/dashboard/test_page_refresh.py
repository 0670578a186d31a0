"""The pages' refresh functions (what their callbacks return) on lakes the browser tests do not cover."""
from __future__ import annotations

import shutil
from datetime import datetime, timezone

import pyarrow as pa
import pytest
from dash import html
from deltalake import DeltaTable, write_deltalake

from conftest import config_in
from dashboard.context import Context
from dashboard.pages import alerts, features, overview


def all_text(component) -> str:
    """The visible text of a Dash component tree."""
    if component is None:
        return ""
    if isinstance(component, (str, int, float)):
        return str(component)
    children = getattr(component, "children", None)
    if isinstance(children, (list, tuple)):
        return "".join(all_text(c) for c in children)
    return all_text(children)


@pytest.fixture
def copied_sample(sample_lake, tmp_path):
    """A private copy of the sample lake (the shared one stays as the browser tests expect it)."""
    lake = tmp_path / "lake"
    shutil.copytree(sample_lake["config"].lake_root, lake)
    return config_in(lake)


def test_overview_shows_drift_only_where_a_drift_table_exists(copied_sample):
    ctx = Context.create(copied_sample)
    assert overview.refresh(ctx)["overview-drift"] is None
    checks = pa.table({"checked_at": pa.array([datetime(2026, 11, 21, 0, 10, tzinfo=timezone.utc),
                                               datetime(2026, 11, 21, 0, 20, tzinfo=timezone.utc)],
                                              pa.timestamp("us", tz="UTC")),
                       "score": [0.05, 0.31], "threshold": [0.2, 0.2], "drift": [False, True]})
    write_deltalake(copied_sample.lake_path("drift"), checks)
    shown = all_text(overview.refresh(ctx)["overview-drift"])
    assert shown.startswith("drift detected") and "score 0.310" in shown and "threshold 0.200" in shown


def test_features_page_per_key(sample_lake):
    config = sample_lake["config"]
    ctx = Context.create(config)
    every = features.refresh(ctx, "temp_c", None)
    keys = [o["value"] for o in every["feature-key"]][1:]
    assert keys == sorted(keys) and len(keys) == 12
    one = features.refresh(ctx, "temp_c", "dev-0000")
    assert one["feature-summary-text"].startswith("temp_c for dev-0000: 30 windows")
    table = DeltaTable(config.lake_path("feature_summary")).to_pandas()
    mine = table[(table.feature == "temp_c") & (table.device_id == "dev-0000")].sort_values("window_start")
    plotted = {trace.get("name"): list(trace["y"]) for trace in one["feature-graph"]["data"]}
    assert plotted["mean"] == list(mine["mean"]) and plotted["p99"] == list(mine["p99"])


def test_alerts_page_without_an_alerts_table_says_why(copied_sample):
    shutil.rmtree(copied_sample.lake_path("alerts"))
    values = alerts.refresh(Context.create(copied_sample))
    assert values["rows"] is None and "No alerts table yet" in values["empty"]


def test_overview_with_a_stream_but_no_model_yet(tmp_path):
    config = config_in(tmp_path / "lake")
    from dashboard.delta import append_rows

    append_rows(config, "stream_stats", [{
        "batch_id": 0, "started_at": datetime(2026, 11, 21, tzinfo=timezone.utc),
        "finished_at": datetime(2026, 11, 21, 0, 0, 1, tzinfo=timezone.utc), "duration_ms": 1000, "rows_in": 50,
        "rows_valid": 50, "rows_quarantined": 0, "rows_scored": 0, "anomalies": 0, "bytes_in": 7500}])
    values = overview.refresh(Context.create(config))
    assert values["kpi-model-version"] == "none yet" and values["kpi-anomaly-rate"] == "–"
    assert values["kpi-events-per-s"] == "50"
    assert isinstance(values["overview-drift"], (type(None), html.Div))


def test_the_page_frame_refreshes_as_often_as_the_dashboard_section_says():
    """shell() needs only the [dashboard] section, not a whole Config."""
    from dashboard.app import shell
    from lakehouse.config import DashboardConfig

    def components(node):
        yield node
        children = getattr(node, "children", None)
        for child in children if isinstance(children, (list, tuple)) else [children] if children is not None else []:
            yield from components(child)

    timer = next(c for c in components(shell(DashboardConfig(refresh_seconds=0.5))) if getattr(c, "id", None) == "refresh")
    assert timer.interval == 500
