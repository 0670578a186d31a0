"""One idempotent append to a catalog table through Spark: the token and the partitioning, written once.

Why: every stream write is exactly-once per micro-batch. Delta skips a commit
whose transaction (`txnAppId`, `txnVersion`) it has already recorded for that
app id at that version or later, so a micro-batch replayed after a crash, or a
commit retried after an I/O error that had in fact committed, writes nothing.
The token is a typed `Idempotency` (the streaming query's id and the batch id,
as delta-rs's `CommitProperties` carries a `Transaction`), and the partition
columns come from the catalog (lakehouse/catalog.py), so no writer repeats them.

Two ways to hand Delta the token, one per kind of write:
- an append (`append`) takes it as writer options;
- a MERGE has no writer, so `tagged_commit` puts it in the session's Delta
  settings for the one commit in its block. Delta's `autoReset` clears only the
  version after that commit; the block clears the app id too, which would
  otherwise make the session's next untagged write fail (an app id without a
  version is an error). The session must be the micro-batch's own
  (`foreachBatch` gives each query its own), or a concurrent write of another
  query would take the token.

Cost: nothing beyond Delta's own lookup of the app id's last version in the
table's log state, which a commit with a token pays once.

    append(frame, config, "events", Idempotency(query_id, batch_id))
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from pyspark.sql import DataFrame, SparkSession

from lakehouse.catalog import table_path, tables
from lakehouse.config import Config

# Writer options of a Delta append, and the session settings a MERGE reads instead.
TXN_APP_ID, TXN_VERSION = "txnAppId", "txnVersion"
SESSION_TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
SESSION_TXN_VERSION = "spark.databricks.delta.write.txnVersion"
SESSION_TXN_AUTO_RESET = "spark.databricks.delta.write.txnVersion.autoReset.enabled"


@dataclass(frozen=True)
class Idempotency:
    """A commit's idempotency token: Delta writes `version` for `app_id` once (and no older version after it).

    `app_id` is stable across restarts (a streaming query's id, kept in its
    checkpoint, plus a suffix for a second kind of write of the same batch);
    `version` grows with every batch (the micro-batch id).
    """

    app_id: str
    version: int

    def __post_init__(self):
        if not self.app_id:
            raise ValueError("Idempotency.app_id must not be empty")
        if self.version < 0:
            raise ValueError(f"Idempotency.version must be >= 0, got {self.version}")

    def suffixed(self, suffix: str) -> "Idempotency":
        """The token of another write of the same batch, kept apart from this one (e.g. "-backfill")."""
        return Idempotency(self.app_id + suffix, self.version)


def append(frame: DataFrame, config: Config, table: str, token: Idempotency | None = None) -> None:
    """Append `frame` to the catalog table `table`, partitioned as the catalog defines it.

    Args:
        token: the commit's idempotency token; a commit Delta has already recorded
            for it is skipped (and `frame` is then never computed). None: a plain
            append, for writers that check their natural key themselves.
    """
    writer = frame.write.format("delta").mode("append")
    if token is not None:
        writer = writer.option(TXN_APP_ID, token.app_id).option(TXN_VERSION, token.version)
    partition_by = tables(config)[table].partition_by
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(table_path(config, table))


@contextmanager
def tagged_commit(spark: SparkSession, token: Idempotency) -> Iterator[None]:
    """The session's next Delta commit in this block (a MERGE: no writer options) is idempotent under `token`.

    Only that one commit carries the token; after the block the session writes untagged again.
    """
    spark.conf.set(SESSION_TXN_APP_ID, token.app_id)
    spark.conf.set(SESSION_TXN_VERSION, str(token.version))
    spark.conf.set(SESSION_TXN_AUTO_RESET, "true")
    try:
        yield
    finally:
        spark.conf.unset(SESSION_TXN_APP_ID)
        spark.conf.unset(SESSION_TXN_VERSION)
