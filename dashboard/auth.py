"""HTTP basic auth for an exposed dashboard; credentials only from the environment, never logged.

Whether an address is exposed (and so needs them) is decided in dashboard.network, by what it resolves to.
"""
from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field

from flask import Flask, Response, request

USER_ENV, PASSWORD_ENV = "ISOGUARD_DASHBOARD_USER", "ISOGUARD_DASHBOARD_PASSWORD"


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)


def credentials_from(environ=os.environ) -> Credentials | None:
    """Both variables set and non-empty, or None."""
    user, password = environ.get(USER_ENV, ""), environ.get(PASSWORD_ENV, "")
    return Credentials(user, password) if user and password else None


def require_basic_auth(server: Flask, credentials: Credentials) -> None:
    """Every request (pages, assets, callbacks) needs the user and password; a 401 asks the browser for them."""
    expected_user, expected_password = credentials.user.encode(), credentials.password.encode()

    @server.before_request
    def _check():
        auth = request.authorization
        given_user = (auth.username or "").encode() if auth and auth.type == "basic" else b""
        given_password = (auth.password or "").encode() if auth and auth.type == "basic" else b""
        # Both comparisons always run, in constant time, so timing tells nothing about which part was wrong.
        ok = hmac.compare_digest(given_user, expected_user) & hmac.compare_digest(given_password, expected_password)
        if not ok:
            return Response("isoguard dashboard: authentication required\n", 401,
                            {"WWW-Authenticate": 'Basic realm="isoguard", charset="UTF-8"'})
        return None
