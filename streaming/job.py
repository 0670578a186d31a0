"""The streaming job: landing events -> validate -> Delta tables -> score with the champion.

    spark-submit streaming/job.py --config conf/default.toml
    python -m streaming.job --config conf/default.toml [--master spark://...] [--available-now | --backfill]

`--backfill` is for history landed at once (e.g. `simulation.generate --replay`):
it processes everything that has landed and stops, like `--available-now`, with
the event-time bounds relative to the data (`source.event_time_bounds = "data"`:
years-old events are not "stale"), and then recomputes feature_summary for the
ingested range in batch (streaming.feature_summary.backfill_summaries), so windows the
streaming watermark passed too early are complete.
"""
from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if __package__ in (None, ""):  # run as a file by spark-submit: make the project importable
    import os

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lakehouse.cli import command_parser, run_cli

# pyspark and the streaming modules load inside the functions, after the arguments are parsed:
# `--help` and a bad argument answer in well under a second.
if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from lakehouse.config import Config
    from streaming.champion import ChampionWatcher
    from streaming.gold import GoldQuery
    from streaming.sink import MicroBatchSink

log = logging.getLogger("isoguard.stream")


def start_gold_streams(spark: SparkSession, config: Config, available_now: bool = False) -> list[GoldQuery]:
    """Start feature_summary and alerts; the tables must exist (`ensure_tables`)."""
    from streaming.alerts import start_alerts
    from streaming.feature_summary import start_summaries

    return [start_summaries(spark, config, available_now), start_alerts(spark, config, available_now)]


def start_stream(spark: SparkSession, config: Config, champion: ChampionWatcher,
                 available_now: bool = False, sink: MicroBatchSink | None = None) -> StreamingQuery:
    """Start the streaming query; the caller owns its lifetime."""
    from lakehouse.catalog import ensure_tables
    from streaming.landing import PlannedQuery
    from streaming.sink import QUERY_NAME, MicroBatchSink
    from streaming.sources import landing_planner, open_source

    ensure_tables(spark, config)
    sink = sink or MicroBatchSink(config, champion)
    planner = landing_planner(config)
    if planner is not None:  # everything landed so far is staged before the first (or only) micro-batch plans
        planner.plan()
    writer = (open_source(spark, config, planner).writeStream
              .queryName(QUERY_NAME)
              .foreachBatch(sink)
              .option("checkpointLocation", config.checkpoint_path))
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{config.stream.trigger_seconds} seconds")
    query = writer.start()
    if planner is not None:
        query = PlannedQuery(query, planner)
        if not available_now:
            planner.start(lambda: query.isActive, period=max(0.1, config.stream.trigger_seconds))
    sink.bind(query)
    return query


def parse_args(argv: list[str]):
    parser = command_parser("streaming.job", __doc__, "isoguard stream --config conf/default.toml\n"
                                                      "isoguard stream --config conf/default.toml --backfill")
    parser.add_argument("--config", default="conf/default.toml", help="TOML config file")
    parser.add_argument("--master", default=None, help="Spark master (default local[*])")
    parser.add_argument("--available-now", action="store_true",
                        help="process everything that has landed, then stop (benchmarks, catching up)")
    parser.add_argument("--backfill", action="store_true",
                        help="history: like --available-now, with event-time bounds relative to the data, "
                             "then feature_summary of the ingested range recomputed in batch")
    parser.add_argument("--verbose", action="store_true", help="Spark's INFO log too (default: warnings and errors)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from lakehouse.config import load_config

    config = load_config(args.config)
    if args.backfill:
        args.available_now = True
        config = dataclasses.replace(config, source=dataclasses.replace(config.source, event_time_bounds="data"))
    started = datetime.now(timezone.utc)
    from lakehouse.session import build_spark
    from streaming.champion import ChampionWatcher
    from streaming.feature_summary import backfill_summaries
    from streaming.gold import failure
    from streaming.sink import MicroBatchSink
    from streaming.stopping import expect_refusals
    from streaming.sources import describe_source, jar_groups

    spark = build_spark("isoguard-stream", master=args.master, jar_groups=jar_groups(config), verbose=args.verbose)
    # From here on SIGTERM and SIGINT (Ctrl-C) only ask for a stop, also while the queries start. This replaces
    # the SIGINT handler the SparkContext installed, which cancels every Spark job (the micro-batch in flight).
    stop_requested = threading.Event()

    def request_stop(signum, frame):  # no Spark calls here: the main thread may be inside one
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    champion = ChampionWatcher(config).start()
    sink = MicroBatchSink(config, champion)
    query = start_stream(spark, config, champion, available_now=args.available_now, sink=sink)
    # Live, the gold streams (feature_summary, alerts) run beside the main query; with --available-now, after it.
    gold = [] if args.available_now else start_gold_streams(spark, config)
    log.warning("stream started: %s -> tables under %s", describe_source(config), config.lake_root)
    try:
        while query.isActive and not stop_requested.is_set() and not failure(gold):
            query.awaitTermination(1)
        if args.available_now and not query.exception() and not stop_requested.is_set():
            gold = start_gold_streams(spark, config, available_now=True)
            while not stop_requested.is_set() and (active := [g.query for g in gold if g.query.isActive]):
                active[0].awaitTermination(1)
        # Stopping can end a query with a refused batch's error: only failures before a stop request count.
        problem = None if stop_requested.is_set() else (
            f"stream failed: {query.exception()}" if query.exception() else failure(gold))
        if stop_requested.is_set():
            log.warning("stop requested: finishing the current micro-batches, then stopping")
            expect_refusals(spark)
        sink.refuse_new_batches()
        query.stop()
        for g in gold:
            g.stop()
        if problem:
            raise RuntimeError(problem)
        if args.backfill and not stop_requested.is_set():
            done = backfill_summaries(spark, config, started)
            log.warning("backfill: feature_summary recomputed for windows %s to %s from %d events (%d rows); "
                        "events stream_stats.rows_late counted are in their windows now",
                        done["windows_from"], done["windows_until"], done["events"], done["rows"])
        if stop_requested.is_set():
            log.warning("stream stopped cleanly")
    finally:
        champion.stop()
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
