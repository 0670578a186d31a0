"""python -m dashboard --config conf/default.toml [--host 127.0.0.1] [--port 8050]

Binds 127.0.0.1 by default. Any other address needs basic-auth credentials in
ISOGUARD_DASHBOARD_USER and ISOGUARD_DASHBOARD_PASSWORD (then every request
must carry them); when they are set, loopback requires them too.
"""
from __future__ import annotations

import argparse
import sys

from lakehouse.cli import UsageError, run_cli
from lakehouse.config import load_config

from dashboard.auth import PASSWORD_ENV, USER_ENV, credentials_from, is_loopback


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dashboard", description="isoguard live dashboard")
    parser.add_argument("--config", default="conf/default.toml")
    parser.add_argument("--host", default=None, help="bind address (default from config: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    config = load_config(args.config)
    host = args.host or config.dashboard.host
    port = args.port or config.dashboard.port
    credentials = credentials_from()
    if not is_loopback(host) and credentials is None:
        raise UsageError(f"--host {host}: exposing the dashboard beyond this machine requires basic auth; "
                         f"set {USER_ENV} and {PASSWORD_ENV} in the environment")
    from dashboard.app import create_app
    from dashboard.auth import require_basic_auth

    app = create_app(config)
    if credentials is not None:
        require_basic_auth(app.server, credentials)
    guard = f" (basic auth as {credentials.user})" if credentials else ""
    print(f"Dashboard: http://{host}:{port}{guard}", flush=True)
    app.run(host=host, port=port, debug=False)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
