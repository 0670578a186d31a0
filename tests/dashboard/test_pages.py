"""Every page in a real headless Chromium, against simulation.sample_lake's lake; numbers recomputed from the tables."""
from __future__ import annotations

import pandas as pd
import pytest
from deltalake import DeltaTable
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dashboard.delta import arrow_schema

WAIT = 40


def table(config, name: str) -> pd.DataFrame:
    return DeltaTable(config.lake_path(name)).to_pandas()


@pytest.fixture(scope="module")
def url(sample_lake, dashboard_server):
    with dashboard_server(sample_lake["config"].lake_root) as url:
        yield url


def text_of(browser, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def wait_for_text(browser, element_id: str, predicate, timeout: float = WAIT) -> str:
    WebDriverWait(browser, timeout).until(
        lambda b: b.find_elements(By.ID, element_id) and predicate(b.find_element(By.ID, element_id).text))
    return text_of(browser, element_id)


def test_overview_shows_stream_health_and_the_champion(browser, url, sample_lake, screenshot):
    config = sample_lake["config"]
    stats = table(config, "stream_stats").sort_values("finished_at").tail(10)
    seconds = (stats.finished_at.iloc[-1] - stats.started_at.iloc[0]).total_seconds()
    alerts = table(config, "alerts")
    browser.get(url)
    wait_for_text(browser, "model-detail", lambda t: t.startswith("champion"))
    assert text_of(browser, "kpi-events-per-s") == f"{stats.rows_in.sum() / seconds:,.0f}"
    assert text_of(browser, "kpi-anomaly-rate") == f"{stats.anomalies.sum() / stats.rows_scored.sum():.2%}"
    assert text_of(browser, "kpi-quarantine-rate") == f"{stats.rows_quarantined.sum() / stats.rows_in.sum():.2%}"
    assert text_of(browser, "kpi-latency") == f"{stats.latency_p95_ms.iloc[-1] / 1000:,.1f} s"
    assert text_of(browser, "kpi-open-alerts") == str((alerts.status == "open").sum())
    assert text_of(browser, "kpi-model-version") == f"v{sample_lake['champion']}"
    detail = text_of(browser, "model-detail")
    assert f"champion v{sample_lake['champion']}, trained on 2026-11-20 (2026-11-20 00:00 to 2026-11-20 23:49)" in detail
    assert "promoted 2026-11-21 00:05 UTC" in detail
    assert not browser.find_elements(By.ID, "drift-flag"), "no drift table, so no drift status"
    assert "processing rate" in text_of(browser, "rates")
    screenshot(browser, "dashboard-overview")


def test_anomalies_timeline_and_point_details(browser, url, sample_lake, screenshot):
    config = sample_lake["config"]
    scores = table(config, "scores")
    newest = scores.event_time.max()
    window = scores[scores.event_time > newest - pd.Timedelta(minutes=config.dashboard.window_minutes)]
    browser.get(url + "/anomalies")
    summary = wait_for_text(browser, "anomaly-summary", lambda t: "scores and" in t)
    assert summary.startswith(f"{len(window):,} scores and {int(window.is_anomaly.sum()):,} anomalies")
    wait_for_text(browser, "score-timeline", lambda t: "threshold" in t)  # plotly draws after the summary is shown

    points = WebDriverWait(browser, WAIT).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#score-timeline g.trace.scatter path.point"))
    ActionChains(browser).move_to_element(points[len(points) // 2]).pause(0.3).click().perform()
    header = wait_for_text(browser, "point-header", lambda t: "score" in t)
    event_id = header.split(" · ")[0]
    row = scores[scores.event_id == event_id].iloc[0]
    assert row.is_anomaly and header.endswith("anomaly")
    assert f"score {row.anomaly_score:.4f}" in header
    shown = dict(line.rsplit(" ", 1) for line in text_of(browser, "point-features").splitlines()[1:])
    assert shown == {f: f"{row[f]:,.4f}" for f in config.features}
    assert text_of(browser, "point-top-features").splitlines() == list(row.top_features)
    raw = text_of(browser, "point-raw")
    event = table(config, "events").set_index("event_id").loc[event_id]
    assert f'"event_id": "{event_id}"' in raw and f'"source_file": "{event.source_file}"' in raw
    screenshot(browser, "dashboard-anomalies")

    browser.find_element(By.ID, "label-event-fp").click()
    wait_for_text(browser, "event-label-result", lambda t: t.startswith("labelled event"))
    labels = DeltaTable(config.lake_path("labels")).to_pandas()
    label = labels[labels.target == "event"].iloc[-1]
    assert (label.target_id, label.verdict, label[config.schema.key]) == (event_id, "false_positive", row.device_id)
    assert label.started_at == row.event_time == label.ended_at


def choose(browser, dropdown_id: str, label: str) -> None:
    browser.find_element(By.ID, dropdown_id).click()
    option = WebDriverWait(browser, WAIT).until(
        lambda b: [o for o in b.find_elements(By.CSS_SELECTOR, "[role=option]") if o.text == label])[0]
    option.click()


def test_anomalies_filtered_by_key_and_time_range(browser, url, sample_lake, screenshot):
    config = sample_lake["config"]
    scores = table(config, "scores")
    mine = scores[(scores.device_id == "dev-0001") & (scores.event_time > scores.event_time.max() - pd.Timedelta(minutes=30))]
    browser.get(url + "/anomalies")
    wait_for_text(browser, "anomaly-summary", lambda t: "scores and" in t)
    choose(browser, "anomaly-key", "dev-0001")
    choose(browser, "anomaly-range", "last 30 min")
    # Both filters apply asynchronously: wait for the summary of the key over the last 30 minutes.
    expected = f"{len(mine):,} scores and {int(mine.is_anomaly.sum()):,} anomalies"
    summary = wait_for_text(browser, "anomaly-summary", lambda t: t.endswith("for dev-0001") and t.startswith(expected))
    assert summary.startswith(expected)
    screenshot(browser, "dashboard-anomalies-one-key")


def test_labelling_an_alert_appends_to_labels(browser, url, sample_lake, screenshot):
    config = sample_lake["config"]
    alerts = table(config, "alerts")
    opened = int((alerts.status == "open").sum())
    browser.get(url + "/alerts")
    wait_for_text(browser, "alerts-summary", lambda t: t.startswith(f"{opened} open and {len(alerts) - opened} closed"))
    first_row = WebDriverWait(browser, WAIT).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#alerts-table tr td.dash-select-cell input"))[0]
    first_row.click()
    alert_id = browser.find_element(By.CSS_SELECTOR, "#alerts-table tbody tr:nth-child(2) td[data-dash-column=alert]").text
    browser.find_element(By.ID, "alert-note").send_keys("pump failure confirmed")
    browser.find_element(By.ID, "label-alert-tp").click()
    wait_for_text(browser, "alert-label-result", lambda t: t.startswith("labelled incident"))

    labels = DeltaTable(config.lake_path("labels"))
    assert pa_schema(labels).equals(arrow_schema(config, "labels"))
    written = labels.to_pandas()
    written = written[written.target == "alert"]
    assert len(written) == 1
    label = written.iloc[0]
    incident = alerts.set_index("alert_id").loc[alert_id]
    assert (label.target, label.target_id, label.verdict, label.note) == (
        "alert", alert_id, "true_positive", "pump failure confirmed")
    assert label[config.schema.key] == incident[config.schema.key]
    assert label.started_at == incident.started_at and label.ended_at == incident.ended_at
    WebDriverWait(browser, WAIT).until(lambda b: "true positive" in text_of(b, "alerts-table"))
    screenshot(browser, "dashboard-alerts")


def pa_schema(delta_table):
    import pyarrow as pa

    return pa.schema(delta_table.schema().to_arrow())


def test_features_page_shows_the_windows(browser, url, sample_lake, screenshot):
    config = sample_lake["config"]
    summary = table(config, "feature_summary")
    feature = config.features[0]
    mine = summary[(summary.feature == feature) & summary[config.schema.key].isna()].sort_values("window_start")
    last = mine.iloc[-1]
    browser.get(url + "/features")
    text = wait_for_text(browser, "feature-summary-text", lambda t: t.startswith(feature))
    assert f"{len(mine)} windows" in text
    assert f"latest window: {int(last['count']):,} values, mean {last['mean']:.3f}" in text
    legend = text_of(browser, "feature-graph")
    assert all(name in legend for name in ("mean ± std", "p50", "p95", "p99"))
    screenshot(browser, "dashboard-features")


def test_models_page_lists_versions_and_score_distributions(browser, url, sample_lake, screenshot):
    config = sample_lake["config"]
    scores = table(config, "scores")
    browser.get(url + "/models")
    wait_for_text(browser, "models-summary", lambda t: t.startswith("3 versions"))
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#models-table tbody tr")[1:]]
    assert [r.split()[0] for r in rows] == ["v3", "v2", "v1"]
    assert "challenger" in rows[0] and "rejected" in rows[0]
    assert "champion" in rows[1] and "0.610" in rows[1], "the champion's holdout average precision"
    legend = text_of(browser, "score-distribution")
    for version, count in scores.model_version.value_counts().items():
        assert f"v{version} ({count:,} scores" in legend
    screenshot(browser, "dashboard-models")


def test_data_quality_page_counts_quarantine_reasons(browser, url, sample_lake, screenshot):
    config = sample_lake["config"]
    quarantine = table(config, "quarantine")
    browser.get(url + "/quality")
    summary = wait_for_text(browser, "quality-summary", lambda t: "quarantined" in t)
    assert summary.startswith(f"{len(quarantine)} records quarantined")
    for reason, count in quarantine.reason.value_counts().items():
        assert f"{reason} {count}" in summary
    rows = browser.find_elements(By.CSS_SELECTOR, "#quarantine-table tbody tr")[1:]
    assert len(rows) == len(quarantine)
    screenshot(browser, "dashboard-quality")


def test_pause_stops_the_refresh_and_resume_restarts_it(browser, url):
    browser.get(url)
    wait_for_text(browser, "status", lambda t: "micro-batches" in t)
    browser.find_element(By.ID, "pause").click()
    wait_for_text(browser, "status", lambda t: t.startswith("Paused:"))
    assert text_of(browser, "pause") == "Resume"
    browser.find_element(By.ID, "pause").click()
    wait_for_text(browser, "status", lambda t: not t.startswith("Paused:"))
    assert text_of(browser, "pause") == "Pause"
