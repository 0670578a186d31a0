"""Analyst verdicts: one row per label, appended to the `labels` Delta table (read by the nightly job)."""
from __future__ import annotations

import getpass
import uuid
from datetime import datetime, timezone

from flask import has_request_context, request

from dashboard.delta import append_rows
from lakehouse.config import Config

TARGETS = ("event", "alert")
VERDICTS = ("true_positive", "false_positive")


def add_label(config: Config, target: str, target_id: str, key: str | None, started_at: datetime | None,
              ended_at: datetime | None, verdict: str, analyst: str | None = None, note: str | None = None) -> dict:
    """Append one verdict on an event or an alert; returns the row written."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    if not target_id:
        raise ValueError("target_id is required")
    row = {"label_id": uuid.uuid4().hex, "target": target, "target_id": target_id, config.schema.key: key,
           "started_at": started_at, "ended_at": ended_at, "verdict": verdict,
           "analyst": (analyst or "").strip() or None, "note": (note or "").strip() or None,
           "labelled_at": datetime.now(timezone.utc)}
    append_rows(config, "labels", [row])
    return row


def default_analyst() -> str:
    """Who labels when no one typed a name: the basic-auth user when exposed, else the OS user."""
    if has_request_context() and request.authorization and request.authorization.username:
        return request.authorization.username
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def latest_verdicts(labels) -> dict[str, str]:
    """target_id -> the newest verdict given for it."""
    if labels is None or len(labels) == 0:
        return {}
    latest = labels.sort_values("labelled_at").drop_duplicates("target_id", keep="last")
    return dict(zip(latest.target_id, latest.verdict))
