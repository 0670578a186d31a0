"""The one idempotent append: a token written twice commits once; partitions are the catalog's."""
from datetime import date, datetime, timezone

import pytest
from deltalake import DeltaTable

from lakehouse.catalog import quarantine_schema, table_path, tables
from lakehouse.delta_append import Idempotency, append, tagged_commit

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)


def quarantined(spark, *reasons):
    rows = [(f"raw {r}", r, None, "f.jsonl", 0, NOW, date(2026, 11, 21 + i), 5) for i, r in enumerate(reasons)]
    return spark.createDataFrame(rows, quarantine_schema())


def test_the_same_token_twice_writes_once_into_the_catalogs_partitions(spark, lake_config):
    # No ensure_tables: the first append creates the table, partitioned as the catalog defines it.
    append(quarantined(spark, "a", "b"), lake_config, "quarantine", Idempotency("query-1", 0))
    append(quarantined(spark, "a", "b"), lake_config, "quarantine", Idempotency("query-1", 0))  # a replay
    table = DeltaTable(table_path(lake_config, "quarantine"))
    assert table.metadata().partition_columns == list(tables(lake_config)["quarantine"].partition_by)
    assert sorted(table.to_pandas().reason) == ["a", "b"]
    assert table.version() == 0

    append(quarantined(spark, "c"), lake_config, "quarantine", Idempotency("query-1", 1))       # the next batch
    append(quarantined(spark, "d"), lake_config, "quarantine", Idempotency("query-1", 1).suffixed("-backfill"))
    append(quarantined(spark, "e"), lake_config, "quarantine")                                 # no token: always
    assert sorted(DeltaTable(table_path(lake_config, "quarantine")).to_pandas().reason) == ["a", "b", "c", "d", "e"]


def test_a_tagged_merge_commits_once_and_the_tag_is_reset_after_it(spark, lake_config):
    from delta.tables import DeltaTable as SparkDeltaTable

    append(quarantined(spark, "a"), lake_config, "quarantine")
    path = table_path(lake_config, "quarantine")

    def merge():
        (SparkDeltaTable.forPath(spark, path).alias("t")
         .merge(quarantined(spark, "a").alias("u"), "t.reason = u.reason")
         .whenMatchedUpdate(set={"raw_bytes": "t.raw_bytes + 1"}).execute())

    def raw_bytes():
        return DeltaTable(path).to_pandas().raw_bytes.tolist()

    with tagged_commit(spark, Idempotency("alerts-query", 4)):
        merge()
    with tagged_commit(spark, Idempotency("alerts-query", 4)):   # the batch replayed
        merge()
    assert raw_bytes() == [6]
    merge()                       # untagged, in the same session: the token did not outlive its block
    assert raw_bytes() == [7]


def test_a_token_needs_an_app_id_and_a_batch_id():
    with pytest.raises(ValueError):
        Idempotency("", 0)
    with pytest.raises(ValueError):
        Idempotency("query-1", -1)
