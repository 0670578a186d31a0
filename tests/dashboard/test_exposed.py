"""Exposed mode: `--host 0.0.0.0` refuses to start without credentials, and then asks every request for them."""
from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT

USER, PASSWORD = "analyst", "s3cret-pass:word"


def get(url: str, user: str | None = None, password: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_refuses_to_expose_itself_without_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISOGUARD_DASHBOARD_")}
    env["ISOGUARD_LAKE"] = str(tmp_path / "lake")
    result = subprocess.run([sys.executable, "-m", "dashboard", "--host", "0.0.0.0"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --host 0.0.0.0:")
    assert "ISOGUARD_DASHBOARD_USER" in lines[0] and "ISOGUARD_DASHBOARD_PASSWORD" in lines[0]


@pytest.fixture(scope="module")
def exposed(sample_lake, dashboard_server):
    env = {"ISOGUARD_DASHBOARD_USER": USER, "ISOGUARD_DASHBOARD_PASSWORD": PASSWORD}
    with dashboard_server(sample_lake["config"].lake_root, env=env, host="0.0.0.0") as url:
        yield url


def test_exposed_mode_asks_for_credentials(exposed):
    for path in ("/", "/alerts", "/_dash-layout", "/_dash-update-component"):
        status, headers = get(exposed + path)
        assert status == 401, path
        assert headers["WWW-Authenticate"].startswith('Basic realm="isoguard"')
    assert get(exposed + "/", USER, "wrong")[0] == 401
    assert get(exposed + "/", "someone", PASSWORD)[0] == 401


def test_exposed_mode_serves_with_credentials(exposed, browser, screenshot):
    assert get(exposed + "/", USER, PASSWORD)[0] == 200
    assert get(exposed + "/_dash-layout", USER, PASSWORD)[0] == 200
    # A browser that was given the credentials uses them for the page and all its callbacks.
    browser.execute_cdp_cmd("Network.enable", {})
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})
    try:
        browser.get(exposed + "/alerts")
        WebDriverWait(browser, 40).until(lambda b: "open and" in b.find_element(By.ID, "alerts-summary").text)
        assert browser.find_element(By.ID, "alert-analyst").get_attribute("value") == USER
        screenshot(browser, "dashboard-exposed-alerts")
    finally:
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})


def test_the_password_is_never_printed(sample_lake, dashboard_server):
    env = {"ISOGUARD_DASHBOARD_USER": USER, "ISOGUARD_DASHBOARD_PASSWORD": PASSWORD}
    log: list[str] = []
    with dashboard_server(sample_lake["config"].lake_root, env=env, host="0.0.0.0", log=log) as url:
        assert get(url + "/", USER, PASSWORD)[0] == 200
        assert get(url + "/", USER, PASSWORD + "x")[0] == 401
    assert "basic auth as analyst" in log[0]
    assert PASSWORD not in log[0]
