"""The live dashboard (Dash): the stream's tables, alerts, models and drift, refreshed in the browser.

    isoguard dashboard --config conf/default.toml [--host 127.0.0.1] [--port 8050]
    python -m dashboard --config conf/default.toml          (the same)

Binds 127.0.0.1 by default. An address is loopback when every address it
resolves to is (a name is resolved, never judged by its spelling), and the
socket actually bound is checked again. Any other address needs basic-auth
credentials in ISOGUARD_DASHBOARD_USER and ISOGUARD_DASHBOARD_PASSWORD (then
every request must carry them); when they are set, loopback requires them too.
Every request must also name the dashboard in its Host header (DNS rebinding):
see dashboard.network.
"""
from __future__ import annotations

import sys

from lakehouse.cli import UsageError, command_parser, run_cli
from lakehouse.config import load_config

from dashboard.auth import PASSWORD_ENV, USER_ENV, credentials_from
from dashboard.network import BindError, HostPolicy, bound_address, is_loopback_address, resolve


def exposure_error(host: str, where: str) -> UsageError:
    return UsageError(f"--host {host}: exposing the dashboard beyond this machine requires basic auth ({where}); "
                      f"set {USER_ENV} and {PASSWORD_ENV} in the environment")


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("dashboard", __doc__, "isoguard dashboard --config conf/default.toml --port 8050")
    parser.add_argument("--config", default="conf/default.toml", help="TOML config file")
    parser.add_argument("--host", default=None, help="bind address (default from config: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default from config: 8050)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    config = load_config(args.config)
    host = args.host if args.host is not None else config.dashboard.host
    port = args.port or config.dashboard.port
    credentials = credentials_from()
    try:
        target = resolve(host)
    except BindError as exc:
        raise UsageError(f"--host {host}: {exc}") from None
    if not target.loopback and credentials is None:
        raise exposure_error(host, f"it resolves to {target.describe()}, not only loopback addresses")
    from werkzeug.serving import make_server

    from dashboard.app import create_app
    from dashboard.auth import require_basic_auth
    from dashboard.network import require_known_host

    app = create_app(config)
    require_known_host(app.server, HostPolicy.create(target, config.dashboard.allowed_hosts, credentials is not None))
    if credentials is not None:
        require_basic_auth(app.server, credentials)
    app.enable_dev_tools(debug=False)  # what app.run(debug=False) does before it serves
    # Bind the address that was checked, not the name: a second lookup could be answered differently.
    server = make_server(target.bind_address, port, app.server, threaded=True)
    bound = bound_address(server.socket)
    if credentials is None and not is_loopback_address(bound):
        server.server_close()
        raise exposure_error(host, f"the socket is bound to {bound}")
    guard = f" (basic auth as {credentials.user})" if credentials else ""
    print(f"Dashboard: http://{host}:{port}{guard}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
