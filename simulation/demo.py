"""The whole platform on this machine, in one command (`isoguard demo`, `make demo`).

Starts the generator, the streaming job and the dashboard (each an `isoguard`
subcommand); runs the first retrain once about a minute of events has arrived
(unless a champion already exists); prints progress until Ctrl-C, then stops
every process it started. Each child runs in a session of its own, so the
terminal's Ctrl-C reaches only this process. Stopping signals each child's
Python process alone (SIGTERM): the streaming job finishes its micro-batch in
flight and stops its queries, and each JVM, in a session of its own too
(lakehouse.session), ends with its driver. Whatever is left after the grace
period is killed, process group and all.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lakehouse.cli import command_parser, run_cli
from lakehouse.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class Children:
    """Processes started by the demo, each in its own session so it can be stopped with all its descendants."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs[name] = proc
        return proc

    def dead(self) -> list[str]:
        return [name for name, p in self.procs.items() if name != "retrain" and p.poll() is not None]

    def stop_all(self, grace: float = 25.0) -> None:
        for proc in self.procs.values():
            _signal(proc, signal.SIGTERM)  # the Python process only: never the JVM under a micro-batch
        deadline = time.time() + grace
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():
            _signal(proc, signal.SIGKILL, group=True)  # whatever outlived its leader, or the grace period
            proc.wait()


def _signal(proc: subprocess.Popen, sig: int, group: bool = False) -> None:
    """Signal a child, or its whole process group (the child leads one: it started a session)."""
    try:
        if group:
            os.killpg(proc.pid, sig)
        elif proc.poll() is None:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass


def isoguard(subcommand: str, *args: str) -> list[str]:
    """The command line of an `isoguard` subcommand in this interpreter (installed script or not)."""
    return [sys.executable, "-m", "commands.isoguard", subcommand, *args]


def _stats(config: Config):
    from deltalake import DeltaTable

    try:
        return DeltaTable(config.lake_path("stream_stats")).to_pandas(
            columns=["rows_in", "rows_scored", "anomalies", "model_version"])
    except Exception:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("simulation.demo", __doc__, "isoguard demo --config conf/default.toml --rate 1000")
    parser.add_argument("--config", default="conf/default.toml", help="TOML config file")
    parser.add_argument("--rate", type=float, default=1000.0, help="generated events per second")
    parser.add_argument("--warmup-events", type=int, default=None,
                        help="events to collect before the first retrain (default: one minute's worth)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    config = load_config(args.config)
    config_path = str(Path(args.config).resolve())
    warmup = args.warmup_events or int(args.rate * 60)
    log_dir = Path(config.lake_path("logs"))
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ISOGUARD_LAKE": config.lake_root, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    from models import registry

    children = Children(log_dir)
    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"isoguard demo: lake {config.lake_root}, logs in {log_dir}")
    try:
        children.start("generator", isoguard("generate", "--config", config_path, "--rate", str(args.rate)), env)
        children.start("stream", isoguard("stream", "--config", config_path), env)
        children.start("dashboard", isoguard("dashboard", "--config", config_path), env)
        print(f"started: generator ({args.rate:g} events/s), streaming job (Spark local[*]), dashboard")
        print(f"Dashboard: http://{config.dashboard.host}:{config.dashboard.port}", flush=True)
        champion = registry.alias_version(config)
        if champion:
            print(f"champion model v{champion} already registered: the stream scores with it from the start")
        else:
            print(f"no model yet: the first retrain runs once {warmup:,} events have arrived (about a minute)")
        retrain_started = False
        last_report = 0.0
        while not stopping:
            time.sleep(1)
            dead = children.dead()
            if dead:
                print(f"error: {', '.join(dead)} exited; see {log_dir}/<name>.log", file=sys.stderr)
                return 1
            stats = _stats(config)
            arrived = int(stats.rows_in.sum()) if stats is not None else 0
            if not champion and not retrain_started and arrived >= warmup:
                print(f"{arrived:,} events stored: running the first retrain (isoguard retrain --all)")
                children.start("retrain", isoguard("retrain", "--config", config_path, "--all"), env)
                retrain_started = True
            retrain = children.procs.get("retrain")
            if retrain is not None and retrain.poll() is not None and not champion:
                champion = registry.alias_version(config)
                if retrain.returncode != 0 or not champion:
                    print(f"error: the retrain failed; see {log_dir}/retrain.log", file=sys.stderr)
                    return 1
                print(f"model v{champion} is champion: the stream swaps it in within "
                      f"{config.stream.model_refresh_seconds:g} s, without a restart")
            if time.time() - last_report >= 10 and stats is not None:
                last_report = time.time()
                scored, anomalies = int(stats.rows_scored.sum()), int(stats.anomalies.sum())
                print(f"events stored: {arrived:,}  scored: {scored:,}  anomalies: {anomalies:,}  "
                      f"(Ctrl-C stops everything)", flush=True)
        print("stopping: generator, streaming job, dashboard ...", flush=True)
        return 0
    finally:
        children.stop_all()
        print("all demo processes stopped", flush=True)


if __name__ == "__main__":
    sys.exit(run_cli(main))
