"""Where the dashboard listens, and which Host names it answers to.

Without credentials the dashboard is only safe while nothing but this machine
can reach it, and two things used to break that:

- The bind address was judged by its spelling (a `127.` prefix), so a name such
  as `127.attacker.example` that resolves to 0.0.0.0 bound every interface with
  no credentials. Now the address is judged by what it resolves to: every
  address of the name must be loopback. The server then binds the address that
  was checked, not the name (a second lookup could be answered differently),
  and the socket it actually bound is checked once more before it serves.
- A loopback server is still reachable from any web page through DNS
  rebinding: a page on evil.example re-points its name at 127.0.0.1, and the
  browser sends that page's requests, with `Host: evil.example`, to the
  dashboard, whose answers the page can then read. So every request must name
  the dashboard in its Host header: a loopback name or address, a name listed in
  `dashboard.allowed_hosts`, or, when exposed with basic auth, the bound host
  (any name when it is bound to every interface and no list is configured:
  the credentials are then what keeps others out).
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from flask import Flask, Response, request

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK_NAMES = frozenset({"localhost"})


class BindError(ValueError):
    """A bind address that cannot be used; the message is one line."""


def is_loopback_address(address: IPAddress) -> bool:
    """127.0.0.0/8, ::1, and IPv4 loopback written as an IPv4-mapped IPv6 address."""
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def parse_address(text: str) -> IPAddress | None:
    """An IP address literal (IPv6 with or without brackets or a zone), or None for a name."""
    text = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return ipaddress.ip_address(text.split("%", 1)[0] if ":" in text else text)
    except ValueError:
        return None


@dataclass(frozen=True)
class BindTarget:
    """A --host value and every address it resolves to."""

    host: str
    addresses: tuple[IPAddress, ...]

    @property
    def loopback(self) -> bool:
        """True only when every address is loopback: then nothing but this machine can connect."""
        return bool(self.addresses) and all(is_loopback_address(a) for a in self.addresses)

    @property
    def wildcard(self) -> bool:
        return any(a.is_unspecified for a in self.addresses)

    @property
    def bind_address(self) -> str:
        """The address to bind: the first IPv4 one (what werkzeug would pick for a name), else the first."""
        return str(next((a for a in self.addresses if a.version == 4), self.addresses[0]))

    def describe(self) -> str:
        return ", ".join(str(a) for a in self.addresses)


def resolve(host: str) -> BindTarget:
    """Every address `host` resolves to (an empty host means every interface); BindError when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise BindError(f"cannot resolve it ({getattr(exc, 'strerror', None) or exc})") from None
    addresses = tuple(dict.fromkeys(a for a in (parse_address(info[4][0]) for info in infos) if a is not None))
    if not addresses:
        raise BindError("it resolves to no IP address")
    return BindTarget(host, addresses)


def bound_address(sock: socket.socket) -> IPAddress:
    """The address a listening socket is actually bound to."""
    return ipaddress.ip_address(sock.getsockname()[0].split("%", 1)[0])


def host_name(header: str | None) -> str | None:
    """The host part of a Host header, normalised (lower case, no trailing dot, IP addresses canonical),
    or None when the header is missing or malformed."""
    if not header:
        return None
    text = header.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        name, rest = text[1:end], text[end + 1:]
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        address = parse_address(name)
        return str(address) if address is not None and address.version == 6 else None
    name, _, port = text.partition(":")
    if ":" in port or (port and not port.isdigit()) or not name:
        return None
    return normalise(name)


def normalise(name: str) -> str:
    """A host name or address as it is compared: lower case, without a trailing dot, addresses canonical."""
    address = parse_address(name)
    return str(address) if address is not None else name.lower().rstrip(".")


@dataclass(frozen=True)
class HostPolicy:
    """The Host header names the dashboard answers to; any_host only ever when credentials are required."""

    names: frozenset[str]
    any_host: bool = False

    @classmethod
    def create(cls, target: BindTarget, allowed_hosts: tuple[str, ...], with_credentials: bool) -> "HostPolicy":
        """Loopback names and addresses always, plus `allowed_hosts`; with credentials also the bound host,
        and any name when it is bound to every interface and no list is configured."""
        names = {normalise(h) for h in allowed_hosts}
        if with_credentials:
            names |= {normalise(target.host)} | {str(a) for a in target.addresses}
        return cls(frozenset(names), any_host=with_credentials and target.wildcard and not allowed_hosts)

    def allows(self, header: str | None) -> bool:
        name = host_name(header)
        if name is None:
            return False
        if self.any_host or name in self.names or name in LOOPBACK_NAMES:
            return True
        address = parse_address(name)
        return address is not None and is_loopback_address(address)


def require_known_host(server: Flask, policy: HostPolicy) -> None:
    """Every request (pages, assets, callbacks) must carry a Host the policy allows, else 400."""
    @server.before_request
    def _check_host():
        if not policy.allows(request.headers.get("Host")):
            return Response("isoguard dashboard: unknown Host header; open it by a loopback address "
                            "(http://127.0.0.1:PORT/) or list the name in dashboard.allowed_hosts\n", 400,
                            {"Content-Type": "text/plain; charset=utf-8"})
        return None
