"""The SparkSession builder: Delta extensions, the resolved jars, local defaults."""
from __future__ import annotations

import os
import sys

from pyspark import SparkConf
from pyspark.sql import SparkSession

from lakehouse import jars

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

LOCAL_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.host": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.driver.memory": "4g",
    # Validation compiles to large generated methods; let HotSpot JIT-compile them anyway.
    "spark.driver.extraJavaOptions": "-XX:-DontCompileHugeMethods",
    "spark.databricks.delta.snapshotPartitions": "2",
    # VACUUM lists the table directory as a Spark job with this many tasks (default 10,000):
    # about 20 s of task overhead per table on 2 local cores, 4-7 s with 4.
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "4",
    # The sink caches each validated micro-batch once and reads it three times within
    # seconds: compressing that cache costs more CPU than the memory it saves here.
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
}

COMMON_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Delta writes from every micro-batch; keep tables readable by delta-rs.
    "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
    "spark.databricks.delta.optimizeWrite.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}


def build_spark(
    app_name: str = "isoguard",
    master: str | None = None,
    jar_groups: tuple[str, ...] = ("delta",),
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """A SparkSession with Delta Lake, `local[*]` unless a master is given.

    Under spark-submit the master and packages given on its command line win;
    outside it the jars resolved by `make setup` go on the classpath.
    """
    builder = SparkSession.builder.appName(app_name)
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # launched by spark-submit
    if master:
        builder = builder.master(master)
    elif not submitted:
        builder = builder.master("local[*]")
    effective_master = master or (SparkConf().get("spark.master", "local[*]") if submitted else "local[*]")
    settings = dict(COMMON_CONF)
    settings.update(DELTA_CONF)
    if effective_master.startswith("local"):
        settings.update(LOCAL_CONF)
    if not submitted:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Python workers: this interpreter, not PATH's
        settings["spark.jars"] = ",".join(p for g in jar_groups for p in jars.jar_paths(g))
        settings["spark.pyspark.python"] = sys.executable
        settings["spark.pyspark.driver.python"] = sys.executable
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("ISOGUARD_SPARK_LOG_LEVEL", "WARN"))
    return spark
