"""The SparkSession builder: Delta extensions, the resolved jars, local defaults, quiet logs, a shielded JVM.

Spark logs at WARN by default (`spark.log.level`, applied as the SparkContext
starts, so its startup INFO lines never print; `verbose=True` or
ISOGUARD_SPARK_LOG_LEVEL brings them back). Outside spark-submit the JVM is
started in a session of its own: a Ctrl-C in the terminal (SIGINT to the
terminal's whole process group) reaches only the Python driver, which stops its
queries cleanly, and never the JVM or its Python workers, which would abort the
micro-batch in flight. The JVM still ends with the driver: it exits when its
stdin pipe from the driver closes. Under spark-submit the JVM is the driver's
parent and was started by the caller: stop the Python driver with SIGTERM or
SIGINT, not its process group.
"""
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

QUIET_LOG_LEVEL, VERBOSE_LOG_LEVEL = "WARN", "INFO"
LOG_LEVEL_ENV = "ISOGUARD_SPARK_LOG_LEVEL"


def log_level(verbose: bool = False) -> str:
    """Spark's log level: INFO with `verbose`, else ISOGUARD_SPARK_LOG_LEVEL, else WARN."""
    return VERBOSE_LOG_LEVEL if verbose else os.environ.get(LOG_LEVEL_ENV, QUIET_LOG_LEVEL)


def _launch_shielded_gateway(settings: dict[str, str]) -> None:
    """Start the driver JVM in its own session (see the module docstring), with the settings it must start with.

    pyspark starts it on the first SparkContext; starting it here first, with the
    same configuration on spark-submit's command line, only changes its session.
    """
    from pyspark import SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None:
        return
    conf = SparkConf(loadDefaults=False)
    conf.setAll(settings.items())
    SparkContext._ensure_initialized(gateway=launch_gateway(conf, popen_kwargs={"start_new_session": True}))


def build_spark(
    app_name: str = "isoguard",
    master: str | None = None,
    jar_groups: tuple[str, ...] = ("delta",),
    conf: dict[str, str] | None = None,
    verbose: bool = False,
) -> SparkSession:
    """A SparkSession with Delta Lake, `local[*]` unless a master is given.

    Under spark-submit the master and packages given on its command line win;
    outside it the jars resolved by `make setup` go on the classpath. `verbose`
    keeps Spark's INFO log (default: warnings and errors only).
    """
    builder = SparkSession.builder.appName(app_name)
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # launched by spark-submit
    if master:
        builder = builder.master(master)
    elif not submitted:
        builder = builder.master("local[*]")
    effective_master = master or (SparkConf().get("spark.master", "local[*]") if submitted else "local[*]")
    level = log_level(verbose)
    settings = dict(COMMON_CONF, **{"spark.log.level": level})
    settings.update(DELTA_CONF)
    if effective_master.startswith("local"):
        settings.update(LOCAL_CONF)
    if not submitted:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Python workers: this interpreter, not PATH's
        settings["spark.jars"] = ",".join(p for g in jar_groups for p in jars.jar_paths(g))
        settings["spark.pyspark.python"] = sys.executable
        settings["spark.pyspark.driver.python"] = sys.executable
    settings.update(conf or {})
    if not submitted:
        _launch_shielded_gateway({"spark.app.name": app_name, "spark.master": master or "local[*]", **settings})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(level)  # also when getOrCreate returned a session started earlier
    return spark
