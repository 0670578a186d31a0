"""Gold streams: queries in the job's process that read the stream's own Delta tables and build gold tables.

Each runs beside the main query with its own checkpoint and trigger, so summaries
and incidents stay off the scoring path, and each writes idempotently per
micro-batch (an `Idempotency` token of its query id and batch id,
lakehouse/delta_append.py), so a commit that fails with an I/O error is retried
(streaming/commit_retry.py).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from lakehouse.catalog import table_path
from lakehouse.config import Config
from lakehouse.delta_append import Idempotency
from streaming.commit_retry import CommitRetry
from streaming.stopping import BatchRefused


def read_table_stream(spark: SparkSession, config: Config, table: str) -> DataFrame:
    """A Delta table of the lake as a streaming source, from its first version on."""
    # Table maintenance (retention deletes) rewrites files: not new data, and no reason to stop.
    return spark.readStream.format("delta").option("skipChangeCommits", "true").load(table_path(config, table))


class GoldWriter:
    """`foreachBatch` target of a gold query; subclasses implement `write(batch, token)`."""

    def __init__(self, config: Config):
        self.config = config
        self._batch_lock = threading.Lock()
        self._stopping = False
        # Each commit is idempotent per micro-batch, so it is retried on I/O errors (logged, not counted in a table).
        self.retry = CommitRetry(config.stream.commit_retries, config.stream.commit_retry_seconds)

    def write(self, batch: DataFrame, token: Idempotency) -> None:
        """Write the micro-batch idempotently under `token` (this query's id, the batch id)."""
        raise NotImplementedError

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        with self._batch_lock:
            if self._stopping:
                raise BatchRefused(f"stopping: micro-batch {batch_id} is left for the next start")
            # Spark sets the query id on the thread that runs the batch; it is kept in the checkpoint.
            app_id = batch.sparkSession.sparkContext.getLocalProperty("sql.streaming.queryId")
            if not app_id:
                raise RuntimeError("no streaming query id on the micro-batch thread: cannot write idempotently")
            self.write(batch, Idempotency(app_id, batch_id))

    def refuse_new_batches(self) -> None:
        """Wait for the running micro-batch (if any) to finish; any later one is refused, not half-written."""
        with self._batch_lock:
            self._stopping = True

    def start(self, writer: DataStreamWriter, checkpoint: str, trigger_seconds: float,
              available_now: bool = False) -> StreamingQuery:
        writer = writer.foreachBatch(self).option("checkpointLocation", checkpoint)
        if available_now:
            return writer.trigger(availableNow=True).start()
        return writer.trigger(processingTime=f"{trigger_seconds} seconds").start()


@dataclass(frozen=True)
class GoldQuery:
    """A running gold query and its writer."""

    query: StreamingQuery
    writer: GoldWriter

    def stop(self) -> None:
        """Let the running micro-batch finish, then stop."""
        self.writer.refuse_new_batches()
        self.query.stop()


def failure(gold: list[GoldQuery]) -> str | None:
    """The first gold query that stopped with an error, as text."""
    for g in gold:
        if not g.query.isActive and g.query.exception():
            return f"{g.query.name} failed: {g.query.exception()}"
    return None
