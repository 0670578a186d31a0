"""Dashboard security: a bind address judged by what it resolves to, the Host header checked (DNS rebinding),
and user-supplied text that plotly draws escaped (no live markup in hovers, titles, legends, annotations).

No external DNS: names are literal addresses, `localhost`, or a name mapped in a private /etc/hosts inside an
unprivileged user and mount namespace (skipped where the kernel does not allow one).
"""
from __future__ import annotations

import base64
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pandas as pd
import plotly.io as pio
import pytest
from deltalake import DeltaTable
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT, config_in
from dashboard import figures
from dashboard.network import HostPolicy, bound_address, host_name, is_loopback_address, resolve
USER, PASSWORD = "analyst", "s3cret-pass:word"
EVIL = '<a href="http://x">k</a>'
STYLED = '<span style="font-size:80px;color:red">big</span>'


# -- 1. the bind address ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.1", True), ("::ffff:127.0.0.1", True),
    ("0.0.0.0", False), ("::", False), ("", False),
])
def test_a_bind_address_is_judged_by_every_address_it_resolves_to(host, loopback):
    target = resolve(host)
    expected = {ipaddress.ip_address(a[4][0]) for a in socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM,
                                                                           flags=socket.AI_PASSIVE)}
    assert set(target.addresses) == expected
    assert target.loopback is loopback


@pytest.mark.parametrize("family, address, loopback", [
    (socket.AF_INET, "127.0.0.1", True), (socket.AF_INET, "0.0.0.0", False), (socket.AF_INET6, "::", False),
])
def test_the_bound_socket_is_checked(family, address, loopback):
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        sock.listen()
        assert is_loopback_address(bound_address(sock)) is loopback


def dashboard_env(lake: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISOGUARD_DASHBOARD_")}
    env.pop("MLFLOW_TRACKING_URI", None)
    return {**env, "ISOGUARD_LAKE": lake, **extra}


def private_hosts_available(hosts_file) -> bool:
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", 'mount --bind "$1" /etc/hosts', "sh", str(hosts_file)],
                           capture_output=True) if shutil.which("unshare") else None
    return probe is not None and probe.returncode == 0


def test_a_name_that_resolves_to_every_interface_needs_credentials(tmp_path):
    """`127.attacker.example` -> 0.0.0.0: it used to pass the `127.` prefix check and serve every interface."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n0.0.0.0 127.attacker.example\n")
    if not private_hosts_available(hosts):
        pytest.skip("needs `unshare -rm` (an unprivileged user and mount namespace) for a private /etc/hosts")
    port = free_port()
    command = ["unshare", "-rm", "sh", "-c", 'mount --bind "$1" /etc/hosts && shift && exec "$@"', "sh", str(hosts),
               sys.executable, "-m", "dashboard", "--host", "127.attacker.example", "--port", str(port)]
    proc = subprocess.Popen(command, cwd=ROOT, env=dashboard_env(str(tmp_path / "lake")),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while proc.poll() is None and time.time() < deadline:
            try:  # its port on this machine's own name: bound to every interface
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                pytest.fail("127.attacker.example (0.0.0.0) was bound without credentials")
            except OSError:
                time.sleep(0.3)
        assert proc.poll() is not None, "the dashboard neither refused nor served"
        stderr = proc.stderr.read()
        assert proc.returncode == 2, stderr
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --host 127.attacker.example:"), stderr
        assert "0.0.0.0" in lines[0] and "ISOGUARD_DASHBOARD_USER" in lines[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_an_unresolvable_host_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "dashboard", "--host", "no such host"], cwd=ROOT,
                            env=dashboard_env(str(tmp_path / "lake")), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --host no such host: cannot resolve it") and \
        len(result.stderr.strip().splitlines()) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- 2. the Host header ----------------------------------------------------------------------------------------

def get_with_host(url: str, host: str, user: str | None = None, password: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host})
    if user is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_loopback_dashboard_refuses_other_host_names(tmp_path, dashboard_server):
    """DNS rebinding: a page on evil.example re-points its name at 127.0.0.1; its requests carry its Host."""
    with dashboard_server(str(tmp_path / "lake")) as url:
        port = url.rsplit(":", 1)[1]
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}",
                     f"localhost.evil:{port}"):
            for path in ("/", "/_dash-layout", "/_dash-dependencies", "/anomalies"):
                status, body = get_with_host(url + path, host)
                assert status == 400, (host, path)
                assert body.startswith("isoguard dashboard: unknown Host header")
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "127.0.0.1", f"127.8.9.10:{port}"):
            assert get_with_host(url + "/_dash-layout", host)[0] == 200, host


def test_an_exposed_dashboard_answers_the_listed_names_only(tmp_path, sample_lake, dashboard_server):
    config = tmp_path / "listed.toml"
    config.write_text((ROOT / "conf" / "default.toml").read_text().replace(
        "allowed_hosts = []", 'allowed_hosts = ["dash.example.com", "10.1.2.3"]'))
    env = {"ISOGUARD_DASHBOARD_USER": USER, "ISOGUARD_DASHBOARD_PASSWORD": PASSWORD}
    with dashboard_server(sample_lake["config"].lake_root, "--config", str(config), env=env, host="0.0.0.0") as url:
        port = url.rsplit(":", 1)[1]
        assert get_with_host(url + "/", "evil.example", USER, PASSWORD)[0] == 400
        for host in (f"dash.example.com:{port}", "DASH.example.com", f"10.1.2.3:{port}", f"127.0.0.1:{port}"):
            assert get_with_host(url + "/", host, USER, PASSWORD)[0] == 200, host
            assert get_with_host(url + "/", host)[0] == 401, host  # the credentials are still required


def test_the_host_policy():
    loopback = HostPolicy.create(resolve("127.0.0.1"), (), with_credentials=False)
    assert not loopback.any_host
    for header in ("localhost:8050", "LOCALHOST", "127.0.0.1:1", "127.255.0.1", "[::1]:8050", "[::1]", "localhost."):
        assert loopback.allows(header), header
    for header in (None, "", "evil.example", "evil.example:8050", "127.0.0.1.evil.example", "::1", "[::1]x",
                   "127.0.0.1:80:80", "127.0.0.1:port", "0.0.0.0:8050", "[fe80::1]:8050", "localhost:x"):
        assert not loopback.allows(header), header
    exposed = HostPolicy.create(resolve("0.0.0.0"), (), with_credentials=True)
    assert exposed.any_host and exposed.allows("anything.example:8050")
    listed = HostPolicy.create(resolve("0.0.0.0"), ("Dash.Example.com.", "[::2]"), with_credentials=True)
    assert listed.allows("dash.example.com:443") and listed.allows("[::2]:8050") and listed.allows("localhost")
    assert not listed.any_host and not listed.allows("evil.example")
    named = HostPolicy.create(resolve("127.0.0.1"), (), with_credentials=True)
    assert not named.any_host and not named.allows("evil.example")
    assert host_name("[0:0::1]:8050") == "::1"


def test_a_bad_allowed_host_is_one_line(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text((ROOT / "conf" / "default.toml").read_text().replace(
        "allowed_hosts = []", 'allowed_hosts = ["https://dash.example.com"]'))
    result = subprocess.run([sys.executable, "-m", "dashboard", "--config", str(config)], cwd=ROOT,
                            env=dashboard_env(str(tmp_path / "lake")), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {config}: dashboard.allowed_hosts[0]: expected a host name or IP "
                                     "address without scheme, port or wildcard, got 'https://dash.example.com'")


# -- 3. plotly text ----------------------------------------------------------------------------------------------

def figure_texts(figure: dict) -> str:
    """The figure as the JSON Dash sends, without what plotly never draws (the template, the uirevision key)."""
    return pio.to_json({"data": figure["data"], "layout": {k: v for k, v in figure["layout"].items()
                                                           if k not in ("template", "uirevision")}})


def assert_no_markup(figure: dict, *escaped: str) -> None:
    sent = json.loads(figure_texts(figure))
    flat = json.dumps(sent)
    assert "<a" not in flat and "<span" not in flat, flat[:400]
    for text in escaped:
        assert json.dumps(text)[1:-1] in flat


def test_figures_carry_no_live_markup():
    t0 = pd.Timestamp("2026-11-20T00:00:00Z")
    scores = pd.DataFrame({"event_time": [t0, t0 + pd.Timedelta(seconds=1), t0 + pd.Timedelta(seconds=2)],
                           "device_id": [EVIL, STYLED, "plain"], "event_id": ["e1", "e2", "e3"],
                           "anomaly_score": [0.4, 0.7, 0.3], "is_anomaly": [False, True, False],
                           "threshold": [0.6, 0.6, 0.6]})
    timeline = figures.score_timeline(scores, "event_time", "device_id", "event_id")
    assert_no_markup(timeline, "&lt;a href=\"http://x\"&gt;k&lt;/a&gt;", "&lt;span style=")
    assert list(timeline["data"][0]["text"]) == ["&lt;a href=\"http://x\"&gt;k&lt;/a&gt;", "plain"]
    assert list(timeline["data"][0]["customdata"]) == ["e1", "e3"]  # ids, not drawn, stay as stored

    assert_no_markup(figures.empty_figure(f"No scores for {EVIL} in this range."), "No scores for &lt;a href")
    windows = pd.DataFrame({"window_start": [t0], "mean": [1.0], "std": [0.1], "p50": [1.0], "p95": [1.2],
                            "p99": [1.3]})
    assert_no_markup(figures.feature_figure(windows, STYLED), "&lt;span style=")
    counts = pd.DataFrame({"bucket": [t0, t0], "count": [3, 4], "reason": [EVIL, "malformed_json"]})
    assert_no_markup(figures.quarantine_figure(counts), "&lt;a href=")
    histogram = {"counts": [1] * (len(figures.SCORE_BINS) - 1), "rows": 10, "anomalies": 1}
    assert_no_markup(figures.score_distribution_figure({EVIL: histogram}, {EVIL: 0.5}), "v&lt;a href=")


def test_plain_keeps_what_is_not_markup():
    assert figures.plain("cpu_pct & temp > 3 \"q\" 'r'") == "cpu_pct &amp; temp &gt; 3 \"q\" 'r'"
    assert figures.plain(None) == ""
    assert figures.plain(7) == "7"
    shown = figures.plain(pd.Series(["a<b", None, "a<b"]))
    assert shown.iloc[0] == shown.iloc[2] == "a&lt;b" and pd.isna(shown.iloc[1])


@pytest.fixture(scope="module")
def markup_lake(sample_lake, tmp_path_factory):
    """The sample lake plus one anomaly, the newest score, on a key holding a link."""
    from dashboard.delta import append_frame

    config = config_in(tmp_path_factory.mktemp("markup") / "lake")
    shutil.copytree(sample_lake["config"].lake_root, config.lake_root)
    s = config.schema
    scores = DeltaTable(config.lake_path("scores")).to_pandas().sort_values(s.event_time)
    row = scores.tail(1).assign(**{s.key: EVIL, s.event_id: "markup-1", "is_anomaly": True,
                                   s.event_time: scores[s.event_time].max() + pd.Timedelta(seconds=1)})
    append_frame(config, "scores", row)
    return config


def test_a_key_holding_a_link_is_shown_as_text_in_the_hover(markup_lake, dashboard_server, browser, screenshot):
    with dashboard_server(markup_lake.lake_root) as url:
        browser.get(url + "/anomalies")
        wait = WebDriverWait(browser, 40)
        wait.until(lambda b: "scores and" in b.find_element(By.ID, "anomaly-summary").text)
        wait.until(lambda b: b.execute_script(
            "const gd = document.querySelector('#score-timeline .js-plotly-plot');"
            "return !!(gd && gd.data && gd.data.length > 1 && window.Plotly);"))
        hovered = browser.execute_script("""
            const gd = document.querySelector('#score-timeline .js-plotly-plot');
            const i = gd.data[1].text.findIndex(t => t.includes('http://x'));
            if (i < 0) return null;
            Plotly.Fx.hover(gd, [{curveNumber: 1, pointNumber: i}]);
            return i;""")
        assert hovered is not None, "the anomaly on the markup key is not drawn"
        wait.until(lambda b: "score" in b.execute_script(
            "return document.querySelector('#score-timeline .hoverlayer').textContent"))
        label = browser.execute_script("return document.querySelector('#score-timeline .hoverlayer').textContent")
        links = browser.execute_script(
            "return [...document.querySelectorAll('#score-timeline a')]"
            ".map(a => a.getAttribute('href') || a.getAttribute('xlink:href'))")
        screenshot(browser, "security-markup-hover")
        assert EVIL in label  # the characters, shown as typed
        assert "http://x" not in links
