"""The `[dashboard]` section: where the Dash app listens, how often it refreshes, which Host names it answers.

Why apart: `allowed_hosts` is a security check (DNS rebinding,
dashboard/network.py), so its entries are validated here, at load time, in one
line naming the entry, rather than failing on the first request.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from lakehouse.config.reader import ConfigError, Section, setting

HOST_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"  # a DNS name (dashboard.allowed_hosts): no port or wildcard
HOST_NAME = re.compile(rf"(?=.{{1,253}}$){HOST_LABEL}(\.{HOST_LABEL})*\.?", re.IGNORECASE)


def _host_names(section: Section, name: str, values: list | tuple) -> tuple[str, ...]:
    """Host names or IP addresses (IPv6 optionally in brackets), without scheme, port or wildcard."""
    for i, value in enumerate(values):
        bare = value[1:-1] if isinstance(value, str) and value.startswith("[") and value.endswith("]") else value
        if not isinstance(value, str) or not (HOST_NAME.fullmatch(value) or _is_ip(bare)):
            raise ConfigError(f"{section.key(name)}[{i}]: expected a host name or IP address without scheme, "
                              f"port or wildcard, got {value!r}")
    return tuple(values)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class DashboardConfig:
    host: str = setting("127.0.0.1")
    port: int = setting(8050, "positive")
    refresh_seconds: float = setting(2.0, "positive")
    window_minutes: int = setting(10, "positive")
    # Host header names answered besides loopback ones (dashboard.network).
    allowed_hosts: tuple[str, ...] = setting((), check=_host_names)


def parse_dashboard(root: Section) -> DashboardConfig:
    return root.section("dashboard", DashboardConfig).build(DashboardConfig)
