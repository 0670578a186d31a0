"""The landing planner: what producers land is checked and copied before Spark's file source sees it.

Why: Spark's file source, pointed at the landing folder itself, loses or dies on
ordinary landings. It never reads a path twice (a re-landed or overwritten name
is skipped in silence), ignores files more than 7 days older than the newest one
(`maxFileAge`: `cp -p`, `rsync -t`), does not look into sub-directories, follows
symlinks anywhere (`/etc/passwd`), dies on every restart on a truncated `.gz` or
a name Hadoop cannot parse (`a:b.json`), and dies on a file deleted between
planning and reading. So the stream reads a private staging folder instead,
filled by this planner on the driver:

- Each scan walks the landing folder (sub-directories included; names starting
  with `.` or `_` are skipped, as producers write under such temporary names and
  then rename) with `lstat`, never following a symlink.
- A regular file not seen before, or seen with another size or modification
  time, is copied into `<checkpoint>/landing/staged/` under a name of its own:
  `<digest>.<base64url of its path under the landing folder>.<its extension>`.
  The digest is of (path, size, mtime), so a re-landed or overwritten file is a
  new staged file and is read again, whole; the copy is immutable, so what
  Spark reads is what was checked. gzip and bzip2 files are decompressed once
  to the end on the driver before they are staged.
- Whatever is not staged, and every re-read, becomes a *report*: a one-line
  staged file `<digest>.<path>.isoguard-report` holding `{"reason", "detail"}`.
  Spark reads it like any file; the sink turns that row into a quarantine row
  with the file's path and reason (see REASONS), and counts it in
  `stream_stats.files_rejected` / `files_changed`. A report goes through the
  same checkpoint as the data, so it is stored exactly once.

Invariants:
- Every regular file version that lands is either read whole or reported with
  its path; a file that changes after it was copied is read again and
  reported (`file_changed_after_read`: appends are not supported, a file must
  land whole).
- Staged names are a function of (path, size, mtime): a crash between staging
  and recording it in the manifest stages the same name again, which Spark's
  file source (it reads a path once) does not read twice.
- Spark sees only names made of `[0-9a-zA-Z_=.-]`, and only regular files.

The manifest (`<checkpoint>/landing/manifest.jsonl`, one JSON line per staged
or reported file version) is the planner's memory across restarts; it is kept
in the stream's checkpoint folder, so a new checkpoint reads the landing folder
afresh, as Spark's file source did. It is appended to once per scan; a file
that left the landing folder is forgotten a day later (the manifest is
rewritten once forgotten lines are half of it), so it stays about the size of
the landing folder; a name landed again within that day is a changed file,
after it a new one. A version read again has its own `source_file`: the path,
`@`, and the version's modification time (UTC).

Costs: one `lstat` per file in the landing folder per scan (one scan per
trigger interval and before each `processAllAvailable`; measured 0.3 to 0.5 s
for 20,000 files with nothing new, on the shared 2-core machine at a load of
16), so keep the landing folder to files not yet needed; a steady scan touches
no file and writes nothing. One local copy of each landed byte (1 MB chunks),
deleted by Spark (`cleanSource = delete`) once its batch is committed; about
0.6 ms of fixed work per staged file (open, copy, utime, rename, manifest
line). One decompression of each compressed file on the driver. Spark's own
listing is of the staging folder, which holds only files not yet committed. Only a
local (or mounted) landing folder and checkpoint are planned; a landing folder
on an object store is read by Spark's file source directly, with its
limitations.

    planner = LandingPlanner(landing, staging_root)
    planner.plan()      # one scan: stage, report; returns what it did
    planner.start(is_active, period)   # scans in a daemon thread while is_active()
"""
from __future__ import annotations

import base64
import bz2
import errno
import gzip
import hashlib
import json
import logging
import os
import shutil
import stat
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from lakehouse.columns import DETAIL, RAW, REASON, SOURCE

log = logging.getLogger(__name__)

REPORT_EXTENSION = "isoguard-report"
# The raw frame's column holding a landing report (JSON) on its row, null on data rows.
REPORT_COLUMN = "_isoguard_landing_report"
# Reasons of landing reports, as they appear in `quarantine.reason`.
REASONS = {
    "file_changed_after_read": "a file already read changed (overwritten, re-landed or appended to); read again whole",
    "unreadable_file": "the file cannot be read or decompressed (truncated .gz, permissions, I/O error)",
    "symlink_not_followed": "a symbolic link; never followed (its target may lie outside the landing folder)",
    "not_a_regular_file": "a FIFO, socket or device in the landing folder",
    "file_missing": "the file was deleted between the listing and the read",
}
CHANGED = "file_changed_after_read"
COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open}
# Staged modification times are never older than this before the planner saw the file: the arrival time of a
# file copied with its old mtime (cp -p) is when it could first have been seen, and Spark's maxFileAge
# (7 days relative to the newest file) never skips a staged file.
MAX_ARRIVAL_AGE_NS = 86_400 * 10**9
# A file that left the landing folder is forgotten a day later (far beyond any deduplication watermark); a name
# landed again before that is a changed file, after that a new one.
FORGET_AFTER_NS = 86_400 * 10**9
MAX_ENCODED_PATH = 180  # bytes of base64 in a staged name (file names are limited to 255 bytes)


URI_PATH_SAFE = "/!$&'()*+,;=:@~"  # characters a URI path keeps as they are


def uri_path(relpath: str) -> str:
    """The path as a URI path, percent-encoded as Spark's `_metadata.file_path` is (`source_file` stays a URI)."""
    return quote(relpath.encode("utf-8", "surrogateescape"), safe=URI_PATH_SAFE)


def encode_path(relpath: str) -> str:
    return base64.urlsafe_b64encode(uri_path(relpath).encode("ascii")).decode("ascii")


def _staged_path_encoding(relpath: str) -> str:
    encoded = encode_path(relpath)
    if len(encoded) <= MAX_ENCODED_PATH:
        return encoded
    # A path too long for a file name: `source_file` keeps its end (the name), after "..."; logs name it whole.
    tail = relpath.encode("utf-8", "surrogateescape")[-40:].decode("utf-8", "ignore")  # x3 at worst, quoted
    return encode_path("..." + tail)


def _extension(relpath: str) -> str:
    suffix = os.path.splitext(relpath)[1][1:]
    return suffix if suffix.isalnum() and suffix.isascii() and len(suffix) <= 12 else "txt"


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(*parts) -> str:
    return hashlib.sha1("\0".join(map(str, parts)).encode("utf-8", "surrogateescape")).hexdigest()[:16]


@dataclass
class ScanResult:
    staged: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)


class LandingPlanner:
    """Scans a local landing folder and stages what Spark may read; see the module docstring."""

    def __init__(self, landing: str | Path, root: str | Path):
        self.landing = Path(landing).absolute()
        self.root = Path(root)
        self.staging = self.root / "staged"
        self.manifest_path = self.root / "manifest.jsonl"
        self.landing.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True)
        for leftover in self.staging.glob(".*.tmp"):  # copies a crash cut short; their files are staged again
            leftover.unlink(missing_ok=True)
        self._known: dict[str, tuple] = {}       # relpath -> (size, mtime_ns, what) of the version staged or reported
        self._manifest_lines = 0
        self._pending: list[str] = []
        self._gone: dict[str, int] = {}         # relpath -> when a scan first missed it (ns)
        self._load_manifest()
        self._lock = threading.Lock()
        self._previous_scan_ns: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ---- manifest -------------------------------------------------------------------------------------
    def _load_manifest(self) -> None:
        if not self.manifest_path.exists():
            return
        with open(self.manifest_path, encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:  # a line cut short by a crash: its file is staged again (same name)
                    continue
                self._known[entry["path"]] = (entry["size"], entry["mtime_ns"], entry.get("what", "staged"))
                self._manifest_lines += 1

    def _record(self, relpath: str, size: int, mtime_ns: int, what: str) -> None:
        self._known[relpath] = (size, mtime_ns, what)
        self._pending.append(json.dumps({"path": relpath, "size": size, "mtime_ns": mtime_ns, "what": what}))

    def _save(self, present: set[str], unknown: int, now_ns: int) -> None:
        """Append this scan's entries; forget files that left the landing folder a day ago (rewriting the
        manifest once forgotten entries are half of it)."""
        for relpath in [r for r in self._gone if r in present]:
            del self._gone[relpath]
        # Every file present is known now, but those still being written: fewer known than that, none gone.
        gone = self._known.keys() - present if len(self._known) > len(present) - unknown else ()
        for relpath in gone:
            gone_at = self._gone.setdefault(relpath, now_ns)
            if now_ns - gone_at > FORGET_AFTER_NS:
                del self._known[relpath], self._gone[relpath]
        if self._manifest_lines > 2 * len(self._known) + 1000:
            tmp = self.manifest_path.with_name(".manifest.jsonl.tmp")
            with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as fh:
                for relpath, (size, mtime_ns, what) in self._known.items():
                    fh.write(json.dumps({"path": relpath, "size": size, "mtime_ns": mtime_ns, "what": what}) + "\n")
            os.replace(tmp, self.manifest_path)
            self._manifest_lines = len(self._known)
        elif self._pending:
            with open(self.manifest_path, "a", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write("\n".join(self._pending) + "\n")
            self._manifest_lines += len(self._pending)
        self._pending = []

    # ---- scanning -------------------------------------------------------------------------------------
    def _walk(self):
        """(relpath, lstat) of every entry under the landing folder that is not hidden; never follows a link."""
        pending = [(str(self.landing), "")]
        while pending:
            folder, prefix = pending.pop()
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        name = entry.name
                        if name[0] in "._":
                            continue
                        try:
                            info = entry.stat(follow_symlinks=False)
                        except FileNotFoundError:
                            continue  # gone before we looked at it: never seen, so never promised
                        if stat.S_ISDIR(info.st_mode):
                            pending.append((entry.path, prefix + name + os.sep))
                        else:
                            yield prefix + name, info
            except OSError as exc:
                log.warning("landing: cannot list %s: %s", folder, exc)

    def plan(self) -> ScanResult:
        """One scan of the landing folder: stage new and changed files, report the others."""
        with self._lock:
            return self._plan()

    def _plan(self) -> ScanResult:
        result = ScanResult()
        now_ns = time.time_ns()
        earliest = max(self._previous_scan_ns or 0, now_ns - MAX_ARRIVAL_AGE_NS)
        present, new, unknown = set(), [], 0
        known = self._known
        for relpath, info in self._walk():
            present.add(relpath)
            previous = known.get(relpath)
            if previous is None or previous[0] != info.st_size or previous[1] != info.st_mtime_ns:
                new.append((relpath, info))
        new.sort(key=lambda item: (item[1].st_mtime_ns, item[0]))
        for relpath, info in new:
            version = (info.st_size, info.st_mtime_ns)
            previous = known.get(relpath)
            if previous is not None and previous[2] != "staged":
                previous = None  # the version before was reported, not read: this one is new
            arrival_ns = max(info.st_mtime_ns, earliest)
            if stat.S_ISLNK(info.st_mode):
                try:
                    target = os.readlink(self.landing / relpath)
                except OSError:
                    target = "?"
                inside = os.path.realpath(self.landing / relpath).startswith(os.path.realpath(self.landing) + os.sep)
                where = "inside the landing folder (read under its own name)" if inside else "outside the landing folder"
                self._reject(result, relpath, version, arrival_ns, "symlink_not_followed",
                             f"symbolic link to {target} ({where}); links are never followed")
                continue
            if not stat.S_ISREG(info.st_mode):
                self._reject(result, relpath, version, arrival_ns, "not_a_regular_file",
                             f"not a regular file (mode {stat.filemode(info.st_mode)})")
                continue
            # A version read before has its own `source_file` (the path, then @ and its mtime): the deduplicator
            # takes rows of one source_file for replays of themselves, and these are new rows.
            label = relpath if previous is None else f"{relpath}@{_iso(info.st_mtime_ns)}"
            outcome = self._stage(relpath, label, info, arrival_ns)
            if outcome is None:
                unknown += 1
                continue  # still being written: next scan
            if isinstance(outcome, tuple):
                self._reject(result, relpath, version, arrival_ns, *outcome)
                continue
            if previous is not None:
                detail = (f"changed after it was read (size {previous[0]} -> {info.st_size} bytes, "
                          f"mtime {previous[1] / 1e9:.3f} -> {info.st_mtime_ns / 1e9:.3f}); read again whole, so "
                          f"rows read before may be stored twice or dropped as duplicates. Land new data under "
                          f"new names, whole (write a hidden temporary file, then rename it)")
                self._write_report(relpath, version, arrival_ns, CHANGED, detail)
                result.changed.append(relpath)
                log.warning("landing: %s %s", self.landing / relpath, detail)
            self._record(relpath, *version, "staged")
            result.staged.append(relpath)
        self._save(present, unknown, now_ns)
        self._previous_scan_ns = now_ns
        return result

    def _reject(self, result: ScanResult, relpath: str, version: tuple, arrival_ns: int, reason: str,
                detail: str) -> None:
        self._write_report(relpath, version, arrival_ns, reason, detail)
        self._record(relpath, *version, reason)
        result.rejected.append((relpath, reason))
        log.warning("landing: %s not read: %s: %s", self.landing / relpath, reason, detail)

    def _stage(self, relpath: str, label: str, info: os.stat_result, arrival_ns: int):
        """Copy one file into staging: its staged name, None when it changed while copied, or (reason, detail)."""
        name = f"{_digest(relpath, info.st_size, info.st_mtime_ns)}.{_staged_path_encoding(label)}.{_extension(relpath)}"
        tmp = self.staging / f".{name}.tmp"
        source = self.landing / relpath
        try:
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return "file_missing", "deleted after it was listed, before it could be read"
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "symlink_not_followed", "replaced by a symbolic link while being read; links are never followed"
            return "unreadable_file", f"cannot open: {exc.strerror or exc}"
        try:
            with os.fdopen(fd, "rb") as src, open(tmp, "wb") as dst:
                if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
                    raise _NotRegular()
                shutil.copyfileobj(src, dst, 1 << 20)
                after = os.fstat(src.fileno())
            if (after.st_size, after.st_mtime_ns) != (info.st_size, info.st_mtime_ns):
                tmp.unlink(missing_ok=True)
                return None
            opener = COMPRESSED.get(os.path.splitext(relpath)[1].lower())
            if opener is not None:
                with opener(tmp, "rb") as fh:
                    while fh.read(1 << 20):
                        pass
        except _NotRegular:
            tmp.unlink(missing_ok=True)
            return "not_a_regular_file", "replaced by a special file while being read"
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            tmp.unlink(missing_ok=True)
            return "unreadable_file", f"{type(exc).__name__}: {exc}"
        os.utime(tmp, ns=(arrival_ns, arrival_ns))
        os.replace(tmp, self.staging / name)
        return name

    def _write_report(self, relpath: str, version: tuple, arrival_ns: int, reason: str, detail: str) -> None:
        name = f"{_digest(relpath, *version, reason)}.{_staged_path_encoding(relpath)}.{REPORT_EXTENSION}"
        tmp = self.staging / f".{name}.tmp"
        tmp.write_text(json.dumps({"reason": reason, "detail": detail}) + "\n", encoding="utf-8")
        os.utime(tmp, ns=(arrival_ns, arrival_ns))
        os.replace(tmp, self.staging / name)

    # ---- background scanning --------------------------------------------------------------------------
    def start(self, is_active, period: float) -> "LandingPlanner":
        """Scan every `period` seconds in a daemon thread while `is_active()`; errors are logged, never raised."""
        def run():
            while not self._stop.wait(period) and is_active():
                try:
                    self.plan()
                except Exception:  # noqa: BLE001 - a scan failing (disk full, ...) is retried next period
                    log.exception("landing: scan failed; retrying in %.1fs", period)

        self._thread = threading.Thread(target=run, name="landing-planner", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)


class _NotRegular(Exception):
    pass


# ---- Spark side: the raw frame of the staging folder ----------------------------------------------------

def planner_root(config) -> Path | None:
    """Where the planner of this config keeps its staging folder and manifest: in the stream's checkpoint folder,
    so that a new checkpoint reads the landing folder afresh. None when either is not on a local file system."""
    landing, checkpoint = config.landing_path, config.checkpoint_path
    if "://" in landing or "://" in checkpoint or landing.startswith("file:") or checkpoint.startswith("file:"):
        return None
    return Path(checkpoint) / "landing"


class PlannedQuery(StreamingQuery):
    """The streaming query of a planned landing folder: `processAllAvailable` first stages what has landed,
    and `stop` stops the planner's scans too."""

    def __init__(self, query: StreamingQuery, planner: LandingPlanner):
        super().__init__(query._jsq)
        self.planner = planner

    def processAllAvailable(self) -> None:
        self.planner.plan()
        return super().processAllAvailable()

    def stop(self) -> None:
        self.planner.stop()
        return super().stop()


def landing_uri(landing: str | Path) -> str:
    """The landing folder as Spark names local files (`file:/abs/path`)."""
    return "file:" + str(Path(landing).absolute())


def raw_columns(landing: str | Path) -> list[Column]:
    """The landed file's own path (not the staged copy's) and the report of a report file (null otherwise)."""
    name = F.col("_metadata.file_name")
    encoded = F.substring_index(F.substring_index(name, ".", 2), ".", -1)
    relpath = F.unbase64(F.translate(encoded, "-_", "+/")).cast("string")
    return [
        F.concat(F.lit(landing_uri(landing) + "/"), relpath).alias(SOURCE),
        F.when(name.endswith("." + REPORT_EXTENSION), F.col("value")).alias(REPORT_COLUMN),
    ]


def apply_reports(validated: DataFrame) -> DataFrame:
    """Give report rows their reason and detail (they never are events); a frame without reports is unchanged."""
    if REPORT_COLUMN not in validated.columns:
        return validated
    report = F.col(REPORT_COLUMN)
    is_report = report.isNotNull()
    return (validated
            .withColumn(REASON, F.when(is_report, F.get_json_object(report, "$.reason")).otherwise(F.col(REASON)))
            .withColumn(DETAIL, F.when(is_report, F.get_json_object(report, "$.detail")).otherwise(F.col(DETAIL)))
            .withColumn(RAW, F.when(~is_report, F.col(RAW))))


def report_aggregates(columns: list[str]) -> list[Column]:
    """Per micro-batch: files reported as changed (read again) and as not read."""
    if REPORT_COLUMN not in columns:
        return [F.lit(None).cast("long").alias("files_changed"), F.lit(None).cast("long").alias("files_rejected")]
    reason = F.get_json_object(F.col(REPORT_COLUMN), "$.reason")
    return [F.count(F.when(reason == CHANGED, 1)).alias("files_changed"),
            F.count(F.when(reason.isNotNull() & (reason != CHANGED), 1)).alias("files_rejected")]
