"""What the dashboard pages show, read from the Delta tables with delta-rs (no JVM).

Every read touches only the files it needs (recent partitions, min/max statistics),
re-reads nothing while a table's version is unchanged, and reads only the new
files when it changed (see dashboard.delta.DeltaFollower). A missing table reads
as None or an empty frame, never an error.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.delta import DeltaFollower, UnreadableTable, at_least, at_most, newest, newest_files, recent_files, within_budget
from dashboard.kpis import latest_alerts, merge_histograms, score_histograms, thin_out
from lakehouse.config import Config
from lakehouse.eventtime import MICROS, from_micros, to_micros

MAX_POINTS = 5000                 # the timeline shows at most this many scores
MAX_WINDOW_ROWS = 2_000_000       # ... chosen from at most this many (the newest); a wider range is narrowed
MAX_SUMMARY_ROWS = 20_000_000     # score histograms, quarantine counts and feature windows read at most this many
LOOKUP_SLACK = timedelta(seconds=1)


@dataclass(frozen=True)
class ScoreWindow:
    """The scores of the last minutes of event time (counted back from the newest event)."""
    points: pd.DataFrame   # thinned to MAX_POINTS, in time order
    keys: list[str]        # every key seen in the window
    start: datetime
    end: datetime
    rows: int              # scores in the window (for the selected key)
    anomalies: int
    narrowed: bool         # the range held more than MAX_WINDOW_ROWS scores: it starts later than asked


@dataclass(frozen=True)
class _Window:
    rows: pa.Table            # every row of the files that overlap the window
    in_window: np.ndarray     # which of them are in it
    flagged: np.ndarray
    scores: np.ndarray
    start: datetime
    end: datetime
    narrowed: bool
    keys: list[str]           # every key in those files


class LakeReader:
    """One per dashboard process: follows each table and remembers what it has read."""

    def __init__(self, config: Config):
        self.config = config
        self._tables: dict[str, DeltaFollower] = {}
        self._memo: dict[tuple, tuple[tuple[int, int], object]] = {}
        self._locks: dict[str, threading.RLock] = {}  # Dash serves callbacks in threads: one reader per table at a time
        self._points: dict[tuple, tuple[_Window, ScoreWindow]] = {}
        self.problems: dict[str, str] = {}            # table -> why it cannot be read (it reads as missing)

    def _lock(self, name: str) -> threading.RLock:
        return self._locks.setdefault(name, threading.RLock())  # setdefault is atomic

    def table(self, name: str) -> DeltaFollower:
        if name not in self._tables:
            self._tables.setdefault(name, DeltaFollower(self.config.lake_path(name)))
        return self._tables[name]

    def _once_per_version(self, name: str, key: tuple, compute: Callable[[DeltaFollower], object]):
        """compute(table) at most once per table version; None while the table does not exist."""
        with self._lock(name):
            table = self.table(name)
            try:
                version = table.refresh()
            except UnreadableTable as exc:
                self.problems[name] = str(exc)
                return None
            self.problems.pop(name, None)
            if version is None:
                return None
            hit = self._memo.get((name, key))
            if hit is not None and hit[0] == (table.opened, version):
                return hit[1]
            value = compute(table)
            self._memo[(name, key)] = ((table.opened, version), value)
            return value

    def exists(self, name: str) -> bool:
        return self._once_per_version(name, ("exists",), lambda t: True) is not None

    # --- stream_stats -------------------------------------------------------------------------
    def stream_stats(self, last: int = 300) -> pd.DataFrame:
        """The latest `last` micro-batches, oldest first; empty while the stream has not run."""
        def compute(t: DeltaFollower) -> pd.DataFrame:
            files = newest_files(t.files(), "finished_at", last)
            frame = t.rows("stream_stats", t.schema.names, files).to_pandas()
            return frame.sort_values("finished_at").tail(last).reset_index(drop=True)
        frame = self._once_per_version("stream_stats", (last,), compute)
        return pd.DataFrame() if frame is None else frame

    # --- scores and events --------------------------------------------------------------------
    def timeline_columns(self) -> list[str]:
        s = self.config.schema
        return [s.event_id, s.key, s.event_time, "anomaly_score", "is_anomaly", "threshold", "model_version"]

    def _window(self, minutes: int) -> _Window | None:
        """The files of the last `minutes` of event time, concatenated (not copied), with the row filter."""
        time_col = self.config.schema.event_time

        def compute(t: DeltaFollower) -> _Window | None:
            files, start = recent_files(t.files(), time_col, "event_date", timedelta(minutes=minutes))
            if start is None:
                return None
            files, left_out_until = within_budget(files, f"max.{time_col}", MAX_WINDOW_ROWS)
            rows = t.rows("window", self.timeline_columns(), files)
            if rows.num_rows == 0:
                return None
            times = rows[time_col].cast(pa.int64()).to_numpy()
            end_us = int(times.max())
            start_us = end_us - int(minutes * 60 * MICROS)
            narrowed = left_out_until is not None and to_micros(left_out_until) > start_us
            if narrowed:  # every row after the newest one left out is in the files kept
                start_us = to_micros(left_out_until)
            key = self.config.schema.key
            keys = set().union(*t.per_file("window-keys", [key], files,
                                           lambda part: set(pc.unique(part[key]).to_pylist())))
            return _Window(rows, times > start_us, rows["is_anomaly"].to_numpy(),
                           rows["anomaly_score"].to_numpy(), from_micros(start_us), from_micros(end_us), narrowed,
                           sorted(k for k in keys if k is not None))
        return self._once_per_version("scores", ("window", minutes), compute)

    def score_window(self, minutes: int, key: str | None = None) -> ScoreWindow | None:
        """Scores of the last `minutes` of event time (back from the newest), for one key or all; None while none."""
        window = self._window(minutes)
        if window is None:
            return None
        s = self.config.schema
        with self._lock("scores"):
            hit = self._points.get((minutes, key))
            if hit is not None and hit[0] is window:  # computed from this very window already
                return hit[1]
            selected = window.in_window
            if key:
                selected = selected & pc.equal(window.rows[s.key], key).to_numpy(zero_copy_only=False)
            chosen = thin_out(selected, window.flagged, window.scores, MAX_POINTS)
            points = window.rows.take(chosen).to_pandas().sort_values(s.event_time, kind="stable")
            shown = ScoreWindow(points=points.reset_index(drop=True), keys=window.keys, start=window.start,
                                end=window.end, rows=int(selected.sum()),
                                anomalies=int((selected & window.flagged).sum()), narrowed=window.narrowed)
            self._points[(minutes, key)] = (window, shown)
            return shown

    def scores(self, hours: float = 24, columns: list[str] | None = None) -> pd.DataFrame | None:
        """Every score of the latest `hours` of event time (for analysis: not thinned), oldest first."""
        time_col = self.config.schema.event_time

        def compute(t: DeltaFollower) -> pd.DataFrame:
            files, start = recent_files(t.files(), time_col, "event_date", timedelta(hours=hours))
            rows = t.rows("analysis", columns or [c for c in t.schema.names if c != "event_date"], files)
            if start is not None and time_col in rows.column_names:
                rows = rows.filter(pc.greater(rows[time_col], pa.scalar(start, rows[time_col].type)))
            frame = rows.to_pandas()
            return frame.sort_values(time_col).reset_index(drop=True) if time_col in frame else frame
        return self._once_per_version("scores", ("analysis", hours, tuple(columns or ())), compute)

    def scored_event(self, event_id: str, event_time: datetime) -> dict | None:
        """The scores row of one event (features, score, top contributing features)."""
        return self._lookup("scores", event_id, event_time)

    def raw_event(self, event_id: str, event_time: datetime) -> dict | None:
        """The stored event itself (as it arrived, after validation) from `events`."""
        return self._lookup("events", event_id, event_time)

    def _lookup(self, name: str, event_id: str, event_time: datetime) -> dict | None:
        with self._lock(name):
            return self._find(name, event_id, event_time)

    def _find(self, name: str, event_id: str, event_time: datetime) -> dict | None:
        s = self.config.schema
        if not self.exists(name):
            return None
        t = self.table(name)
        low, high = event_time - LOOKUP_SLACK, event_time + LOOKUP_SLACK  # the clicked time is rounded
        files = at_least(at_most(t.files(), "event_date", high.date(), kind="partition"), "event_date", low.date(),
                         kind="partition")
        files = at_most(at_least(files, s.event_time, low), s.event_time, high)
        rows = t.rows(f"lookup-{name}", [c for c in t.schema.names if c != "event_date"], files)
        match = rows.filter(pc.equal(rows[s.event_id], event_id))
        return match.slice(0, 1).to_pylist()[0] if match.num_rows else None

    def score_distribution(self, hours: int = 24) -> dict[str, dict] | None:
        """Per model version, a histogram of anomaly_score over the files of the latest `hours` of event time."""
        def compute(t: DeltaFollower):
            time_col = self.config.schema.event_time
            files, start = recent_files(t.files(), time_col, "event_date", timedelta(hours=hours))
            if start is None:
                return {}
            files, _ = within_budget(files, f"max.{time_col}", MAX_SUMMARY_ROWS)
            return merge_histograms(t.per_file("histograms", ["anomaly_score", "is_anomaly", "model_version"],
                                               files, score_histograms))
        return self._once_per_version("scores", ("distribution", hours), compute)

    # --- alerts, labels, feature summaries, quarantine, drift ---------------------------------
    def alerts(self) -> pd.DataFrame | None:
        """One row per incident, open ones first; None while the stream has written no alerts table."""
        return self._once_per_version("alerts", (), lambda t: latest_alerts(
            t.rows("alerts", t.schema.names).to_pandas()))

    def labels(self) -> pd.DataFrame:
        frame = self._once_per_version("labels", (), lambda t: t.rows("labels", t.schema.names).to_pandas())
        return pd.DataFrame() if frame is None else frame

    def baselines(self) -> pd.DataFrame | None:
        """The nightly job's reference statistics per key and feature."""
        return self._once_per_version("baselines", (), lambda t: t.rows("baselines", t.schema.names).to_pandas())

    def feature_summary(self, hours: int = 6) -> pd.DataFrame | None:
        """The windows that started in the latest `hours` (counted back from the newest window), oldest first."""
        def compute(t: DeltaFollower) -> pd.DataFrame:
            files, start = recent_files(t.files(), "window_start", "window_date", timedelta(hours=hours))
            files, _ = within_budget(files, "max.window_start", MAX_SUMMARY_ROWS)
            rows = t.rows("summary", t.schema.names, files)
            if start is not None:
                rows = rows.filter(pc.greater_equal(rows["window_start"], pa.scalar(start, rows["window_start"].type)))
            return rows.to_pandas().sort_values("window_start").reset_index(drop=True)
        return self._once_per_version("feature_summary", (hours,), compute)

    def quarantine(self, hours: int = 24) -> pd.DataFrame | None:
        """Reason and ingestion time of the records quarantined in the latest `hours` (back from the newest one)."""
        def compute(t: DeltaFollower) -> pd.DataFrame:
            files = t.files()
            latest = newest(files, "ingest_date", kind="partition")
            if latest is not None:  # no statistics on ingested_at: whole days, then rows
                files = at_least(files, "ingest_date", latest - timedelta(days=hours // 24 + 1), "partition")
            files, _ = within_budget(files, "modification_time", MAX_SUMMARY_ROWS)
            frame = t.rows("quarantine", ["reason", "ingested_at", "batch_id"], files).to_pandas()
            if frame.empty:
                return frame
            return frame[frame.ingested_at >= frame.ingested_at.max() - pd.Timedelta(hours=hours)]
        return self._once_per_version("quarantine", (hours,), compute)

    def quarantine_sample(self, n: int = 20) -> pd.DataFrame | None:
        """The `n` most recently quarantined records, raw payload included."""
        def compute(t: DeltaFollower) -> pd.DataFrame:
            files = t.files()
            order = pc.sort_indices(files, [("modification_time", "descending")])
            counts = np.cumsum(files["num_records"].take(order).fill_null(1).to_numpy())
            files = files.take(order[: int(np.searchsorted(counts, n)) + 1])
            frame = t.rows("quarantine-sample", [c for c in t.schema.names if c != "ingest_date"], files).to_pandas()
            return frame.sort_values("ingested_at", ascending=False).head(n).reset_index(drop=True)
        return self._once_per_version("quarantine", ("sample", n), compute)

    def drift(self) -> pd.Series | None:
        """The latest drift check, when a `drift` table exists (written by a drift monitor)."""
        def compute(t: DeltaFollower):
            frame = t.rows("drift", t.schema.names).to_pandas()
            times = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
            if frame.empty:
                return None
            return (frame.sort_values(times[0]) if times else frame).iloc[-1]
        return self._once_per_version("drift", (), compute)

