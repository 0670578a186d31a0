"""The dashboard in a real headless Chromium against the lake the end-to-end pipeline wrote, and against an empty one."""
from __future__ import annotations

import pytest
from deltalake import DeltaTable
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

PAGES = {"/": "overview", "/anomalies": "anomalies", "/alerts": "alerts", "/features": "features",
         "/models": "models", "/quality": "quality"}


@pytest.fixture(scope="module")
def dashboard_url(pipeline, dashboard_server):
    with dashboard_server(pipeline["config"].lake_root) as url:
        yield url


def expected_kpis(lake: str) -> dict[str, str]:
    """Recomputed from stream_stats independently of the dashboard code."""
    stats = DeltaTable(f"{lake}/stream_stats").to_pandas().sort_values("finished_at")
    last10 = stats.tail(10)
    seconds = (last10.finished_at.iloc[-1] - last10.started_at.iloc[0]).total_seconds()
    version = stats.model_version.dropna().iloc[-1]
    return {
        "kpi-events-per-s": f"{last10.rows_in.sum() / seconds:,.0f}",
        "kpi-anomaly-rate": f"{last10.anomalies.sum() / last10.rows_scored.sum():.2%}",
        "kpi-model-version": f"v{version}",
        "kpi-quarantined": f"{last10.rows_quarantined.sum():,}",
    }


def test_overview_shows_the_numbers_the_tables_hold(browser, dashboard_url, pipeline, screenshot):
    browser.get(dashboard_url)
    expected = expected_kpis(pipeline["config"].lake_root)
    wait = WebDriverWait(browser, 30)
    wait.until(lambda b: b.find_element(By.ID, "kpi-model-version").text.startswith("v"))
    shown = {card: browser.find_element(By.ID, card).text for card in expected}
    assert shown == expected
    assert shown["kpi-model-version"] == f"v{pipeline['champion_version']}"
    wait.until(lambda b: b.find_element(By.ID, "model-detail").text.startswith("champion"))
    screenshot(browser, "pipeline-overview")


def test_the_anomalies_page_draws_the_pipeline_scores(browser, dashboard_url):
    browser.get(dashboard_url + "/anomalies")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda b: "scores and" in b.find_element(By.ID, "anomaly-summary").text)
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#score-timeline .scatterlayer, #score-timeline canvas"))
    legend = browser.find_element(By.ID, "score-timeline").text
    assert "anomaly" in legend and "threshold" in legend


@pytest.mark.parametrize("path", [p for p in PAGES if p not in ("/", "/anomalies")])
def test_every_other_page_renders_what_the_pipeline_wrote(browser, dashboard_url, path, screenshot):
    """Whatever tables the stream has written so far, each page shows content or an empty state, never an error."""
    browser.get(dashboard_url + path)
    WebDriverWait(browser, 30).until(lambda b: "micro-batches" in b.find_element(By.ID, "status").text)
    content = {"/alerts": "#alerts-summary, #alerts-empty", "/features": "#feature-summary-text",
               "/models": "#models-summary", "/quality": "#quality-summary"}[path]
    WebDriverWait(browser, 30).until(
        lambda b: any(e.text.strip() for e in b.find_elements(By.CSS_SELECTOR, content)))
    screenshot(browser, f"pipeline-{PAGES[path]}")


def test_an_empty_lake_names_the_command_to_run_on_every_page(browser, tmp_path, dashboard_server, screenshot):
    with dashboard_server(str(tmp_path / "empty-lake")) as url:
        browser.get(url)
        wait = WebDriverWait(browser, 30)
        wait.until(lambda b: "No data yet" in b.find_element(By.ID, "status").text)
        assert "isoguard stream --config" in browser.find_element(By.ID, "status").text
        assert browser.find_element(By.ID, "kpi-model-version").text == "none yet"
        wait.until(lambda b: "isoguard retrain --config" in b.find_element(By.ID, "model-detail").text)
        screenshot(browser, "empty-overview")
        expected = {"/anomalies": ("anomaly-summary", "make demo"), "/alerts": ("alerts-empty", "make demo"),
                    "/features": ("feature-summary-text", "make demo"),
                    "/models": ("models-summary", "isoguard retrain --config"),
                    "/quality": ("quality-summary", "make demo")}
        for path, (element, command) in expected.items():
            browser.get(url + path)
            wait.until(lambda b: command in b.find_element(By.ID, element).text)
            screenshot(browser, f"empty-{PAGES[path]}")
