"""The `isoguard` command, run for real in a subprocess: help, bad arguments, bad config.

The tests run `python -m commands.isoguard` (the console script's own function), and
the installed `isoguard` script too where it is on PATH (a fresh clone after `make setup`).
"""
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from commands.isoguard import SUBCOMMANDS

ROOT = Path(__file__).resolve().parents[2]
HELP_SECONDS = 5.0  # generous for a loaded CI machine; about 0.3 s when idle, 6-13 s when pyspark loaded first


def isoguard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "commands.isoguard", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_help_lists_every_subcommand_with_its_purpose():
    result = isoguard("--help")
    assert result.returncode == 0, result.stderr
    for sub in SUBCOMMANDS:
        assert f"{sub.name}  " in result.stdout and sub.purpose in result.stdout


@pytest.mark.parametrize("name", [s.name for s in SUBCOMMANDS])
def test_each_subcommand_has_help_with_an_example_without_loading_spark(name):
    started = time.monotonic()
    result = isoguard(name, "--help")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: isoguard {name}")
    assert "example:" in result.stdout and f"isoguard {name}" in result.stdout.split("example:")[1]
    assert elapsed < HELP_SECONDS, f"isoguard {name} --help took {elapsed:.1f} s"


def loaded_by_help(subcommands: list[str], packages: tuple[str, ...]) -> str:
    """The `packages` that `isoguard <sub> --help` for each of `subcommands` imported, as a printed list."""
    code = ("import sys; from commands.isoguard import main\n"
            "for sub in sys.argv[1:]:\n"
            "    try: main([sub, '--help'])\n"
            "    except SystemExit: pass\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(packages)!r}))")
    result = subprocess.run([sys.executable, "-c", code, *subcommands], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_help_imports_nothing_heavy():
    names = [s.name for s in SUBCOMMANDS]
    assert loaded_by_help(names, ("pyspark", "mlflow", "dash", "pandas", "sklearn", "deltalake")) == "[]"


def test_a_bad_argument_is_one_line_and_exit_2():
    line = one_error_line(isoguard("retrain", "--dates", "2026-11-21"))
    assert "isoguard retrain" in line and "--dates" in line
    assert "--date" in one_error_line(isoguard("retrain", "--date", "yesterday"))
    one_error_line(isoguard("dashboard", "--port", "eighty"))


def test_an_unknown_subcommand_is_one_line_and_exit_2():
    line = one_error_line(isoguard("strem", "--config", "conf/default.toml"))
    assert "strem" in line and "stream" in line


def test_a_bad_config_is_one_line_and_exit_2(tmp_path):
    line = one_error_line(isoguard("stream", "--config", str(tmp_path / "missing.toml")))
    assert "missing.toml" in line
    bad = tmp_path / "bad.toml"
    bad.write_text((ROOT / "conf" / "default.toml").read_text().replace("num_trees = ", "num_trees = -", 1))
    assert "num_trees" in one_error_line(isoguard("retrain", "--config", str(bad)))


@pytest.mark.skipif(shutil.which("isoguard") is None, reason="the console script is installed by `make setup`")
def test_the_installed_script_is_the_same_command():
    result = subprocess.run(["isoguard", "stream", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "isoguard stream --config" in result.stdout
