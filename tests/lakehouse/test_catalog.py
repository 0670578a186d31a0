from deltalake import DeltaTable

from lakehouse.catalog import ensure_tables, table_path, tables


def test_tables_are_created_readable_by_delta_rs_and_upgraded_in_place(spark, lake_config):
    ensure_tables(spark, lake_config)
    for name, table in tables(lake_config).items():
        dt = DeltaTable(table_path(lake_config, name))
        assert [f.name for f in dt.schema().fields] == table.schema.fieldNames()
        assert dt.metadata().partition_columns == list(table.partition_by)
        assert dt.metadata().configuration.get("delta.enableDeletionVectors") == "false"

    # A lake from an older release, whose scores table lacks a column, gains it on the next start.
    path = table_path(lake_config, "scores")
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.columnMapping.mode' = 'none')")
    older = spark.read.format("delta").load(path).drop("top_features")
    older.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    assert "top_features" not in spark.read.format("delta").load(path).columns
    ensure_tables(spark, lake_config)
    assert "top_features" in spark.read.format("delta").load(path).columns
