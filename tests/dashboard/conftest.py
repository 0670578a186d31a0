"""Dashboard test fixtures: one headless Chromium, a sample lake, and a dashboard server in a subprocess."""
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
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from conftest import ROOT, config_in

ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def screenshot():
    """screenshot(browser, name) saves test-artifacts/<name>.png."""
    def save(browser, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    return save


@pytest.fixture(scope="session")
def dashboard_server():
    """dashboard_server(lake, *args, env=..., host=...) is a context manager yielding the dashboard's URL."""
    return running_dashboard


@contextmanager
def running_dashboard(lake: str, *args: str, env: dict | None = None, host: str = "127.0.0.1",
                      log: list | None = None):
    """`python -m dashboard` against `lake` on a free port; yields its loopback URL; appends its output to `log`.

    Fails the test if the server logged a traceback: no page may raise, whatever the lake holds.
    """
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ISOGUARD_DASHBOARD_")}
    environ.update({"ISOGUARD_LAKE": lake, **(env or {})})
    environ.pop("MLFLOW_TRACKING_URI", None)
    with tempfile.TemporaryFile("w+") as output_file:
        proc = subprocess.Popen([sys.executable, "-m", "dashboard", "--config", str(ROOT / "conf" / "default.toml"),
                                 "--host", host, "--port", str(port), *args], cwd=ROOT, env=environ,
                                stdout=output_file, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.time() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline or proc.poll() is not None:
                        proc.kill()
                        proc.wait()
                        output_file.seek(0)
                        pytest.fail(f"dashboard did not start: {output_file.read()}")
                    time.sleep(0.3)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        output_file.seek(0)
        output = output_file.read()
        if log is not None:
            log.append(output)
        assert "Traceback" not in output, f"the dashboard raised:\n{output}"


@pytest.fixture(scope="session")
def sample_lake(tmp_path_factory):
    """simulation.sample_lake's lake: every table the dashboard reads, plus an MLflow store with three versions."""
    from simulation.sample_lake import build

    config = config_in(tmp_path_factory.mktemp("dashboard") / "lake")
    built = build(config)
    return {"config": config, **built}
