"""python -m dashboard --config conf/default.toml [--host 127.0.0.1] [--port 8050]"""
from __future__ import annotations

import argparse
import sys

from lakehouse.cli import UsageError, run_cli
from lakehouse.config import load_config

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dashboard", description="isoguard live dashboard")
    parser.add_argument("--config", default="conf/default.toml")
    parser.add_argument("--host", default=None, help="bind address (default from config: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    config = load_config(args.config)
    host = args.host or config.dashboard.host
    port = args.port or config.dashboard.port
    if host not in LOOPBACK:
        raise UsageError(f"--host {host}: the dashboard has no authentication yet, so it only binds to loopback")
    from dashboard.app import create_app

    print(f"Dashboard: http://{host}:{port}", flush=True)
    create_app(config).run(host=host, port=port, debug=False)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
