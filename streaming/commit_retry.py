"""Bounded retries of Delta commits that fail with an I/O error, so a storage hiccup does not end the stream.

Why: a Delta log that is briefly unwritable (a read-only remount, an object store
throttling, a network file system failing over) made the first append of a
micro-batch fail and the job exit. An append that fails with an I/O error is
retried `stream.commit_retries` times, after `stream.commit_retry_seconds`,
doubling each time (at most 60 s between tries); then the error ends the stream
as before. Every retry is counted (stream_stats.commit_retries) and logged.

Invariant: exactly-once is kept. Every stream write is idempotent per micro-batch
(Delta `txnAppId`/`txnVersion`, or a lookup of the natural key for stream_stats),
so a retry of an append that did commit before its error is skipped by Delta,
and one that did not commit writes the batch's rows once. Data files written by
a failed attempt are not in the log: readers never see them, VACUUM removes them.

Only I/O errors (java.io.IOException anywhere in the cause chain: permission
denied, file system errors, connection resets) are retried; analysis errors
(a schema mismatch) fail at once. Cost: nothing while commits succeed; a retried
batch is late by the backoff, and the micro-batch holds its data meanwhile.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BACKOFF_SECONDS = 60.0
# When the JVM exception is not reachable (e.g. a converted PySpark error), its text names the class.
IO_ERROR_NAMES = ("java.io.IOException", "java.nio.file.", "FileSystemException", "AccessDeniedException",
                  "java.io.FileNotFoundException", "java.net.SocketException", "java.net.ConnectException")


def _java_throwable(exc: BaseException):
    for name in ("java_exception", "_origin"):  # Py4JJavaError / PySpark's captured exceptions
        found = getattr(exc, name, None)
        if found is not None:
            return found
    return None


def is_io_error(exc: BaseException) -> bool:
    """Whether `exc` (a Python or a JVM error from Spark) was caused by an I/O error."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError):
            return True
        throwable = _java_throwable(error)
        if throwable is not None:
            try:
                from pyspark import SparkContext

                io_class = SparkContext._jvm.java.lang.Class.forName("java.io.IOException")
                depth = 0
                while throwable is not None and depth < 50:
                    if io_class.isInstance(throwable):
                        return True
                    throwable, depth = throwable.getCause(), depth + 1
            except Exception:  # noqa: BLE001 - no JVM at hand: fall back to the text
                pass
        if any(name in str(error) for name in IO_ERROR_NAMES):
            return True
        error = error.__cause__ or error.__context__
    return False


class CommitRetry:
    """Runs commits with bounded retries on I/O errors and counts the retries (thread-safe)."""

    def __init__(self, retries: int, first_delay_seconds: float, sleep: Callable[[float], None] = time.sleep):
        self.retries, self.first_delay = retries, first_delay_seconds
        self._sleep = sleep
        self._count = 0
        self._lock = threading.Lock()

    def run(self, what: str, commit: Callable[[int], T]) -> T:
        """`commit(attempt)` until it succeeds, a non-I/O error, or the retries are used up (then it raises)."""
        attempt = 0
        while True:
            try:
                return commit(attempt)
            except Exception as exc:
                if attempt >= self.retries or not is_io_error(exc):
                    raise
                delay = min(self.first_delay * 2 ** attempt, MAX_BACKOFF_SECONDS)
                attempt += 1
                with self._lock:
                    self._count += 1
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                log.warning("%s failed with an I/O error (%s); retry %d of %d in %.1f s",
                            what, first_line, attempt, self.retries, delay)
                self._sleep(delay)

    def count(self) -> int:
        """Retries so far that no stream_stats row has reported yet."""
        with self._lock:
            return self._count

    def reported(self, n: int) -> None:
        """`n` retries are in a committed stream_stats row; later ones go into the next row."""
        with self._lock:
            self._count -= n
