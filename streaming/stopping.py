"""A graceful stop: a micro-batch that starts after the stop began is refused, and the refusal is not an error.

Spark has no "stop after this micro-batch" call: `StreamingQuery.stop()`
cancels the jobs of a running batch. So the job first waits for the running
batch to finish (the sinks' `refuse_new_batches`), then stops the query. A
batch Spark starts in between is refused with `BatchRefused`: not written, so
it is read again at the next start. That ends the query "with an error", which
py4j (Python side) and Spark's stream execution (JVM side) log at ERROR; on a
requested stop `expect_refusals` keeps those lines out of the log, so a clean
stop reads as one.
"""
from __future__ import annotations

import logging

STREAM_EXECUTION_LOGGER = "org.apache.spark.sql.execution.streaming"  # logs "Query ... terminated with error"


class BatchRefused(RuntimeError):
    """A micro-batch started after the stop began; it is left for the next start."""


class _DropRefusals(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, BatchRefused) or "is left for the next start" in record.getMessage())


def expect_refusals(spark) -> None:
    """From now on, a refused batch is not logged as an error (call once a stop is requested)."""
    logging.getLogger("py4j.clientserver").addFilter(_DropRefusals())
    jvm = spark.sparkContext._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        STREAM_EXECUTION_LOGGER, jvm.org.apache.logging.log4j.Level.OFF)
