"""The dashboard in a real headless Chromium, against the lake the end-to-end pipeline wrote."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import pytest
from deltalake import DeltaTable
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT

ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("chromium and chromedriver are required: run `make setup-test` (installs Debian's chromium, chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1300,1100", f"--user-data-dir={tempfile.mkdtemp()}"):
        options.add_argument(flag)
    drv = webdriver.Chrome(service=Service(driver), options=options)
    yield drv
    drv.quit()


@contextmanager
def running_dashboard(lake: str):
    """`python -m dashboard` against `lake` on a free loopback port; yields its URL."""
    port = free_port()
    env = {**os.environ, "ISOGUARD_LAKE": lake}
    proc = subprocess.Popen([sys.executable, "-m", "dashboard", "--config", str(ROOT / "conf" / "default.toml"),
                             "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    proc.kill()
                    pytest.fail(f"dashboard did not start: {proc.stdout.read()}")
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def dashboard_url(pipeline):
    with running_dashboard(pipeline["config"].lake_root) as url:
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


def test_overview_shows_the_numbers_the_tables_hold(browser, dashboard_url, pipeline):
    browser.get(dashboard_url)
    expected = expected_kpis(pipeline["config"].lake_root)
    wait = WebDriverWait(browser, 30)
    wait.until(lambda b: b.find_element(By.ID, "kpi-model-version").text.startswith("v"))
    shown = {card: browser.find_element(By.ID, card).text for card in expected}
    assert shown == expected
    assert shown["kpi-model-version"] == f"v{pipeline['champion_version']}"

    # The timeline has the anomalies marked and the threshold drawn.
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#score-timeline .scatterlayer, #score-timeline canvas"))
    legend = browser.find_element(By.ID, "score-timeline").text
    assert "anomaly" in legend and "threshold" in legend
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard-overview.png"))


def test_empty_lake_shows_how_to_start(browser, tmp_path):
    with running_dashboard(str(tmp_path / "empty-lake")) as url:
        browser.get(url)
        WebDriverWait(browser, 30).until(lambda b: "No data yet" in b.find_element(By.ID, "status").text)
        assert browser.find_element(By.ID, "kpi-model-version").text == "none yet"


def test_refuses_to_expose_itself_without_authentication():
    result = subprocess.run([sys.executable, "-m", "dashboard", "--host", "0.0.0.0"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --host 0.0.0.0:")
