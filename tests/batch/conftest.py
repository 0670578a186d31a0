"""A lake with real Delta tables written through the catalog's schemas, for the batch tests."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest
from pyspark.sql import functions as F

from conftest import config_in
from lakehouse.catalog import ensure_tables, events_schema, labels_schema, quarantine_schema, table_path
from lakehouse.columns import INGESTED, SOURCE
from simulation.fleet import FleetSimulator
from streaming.sink import events_frame, scores_frame


class Lake:
    """Appends to the tables the stream and the dashboard would have written."""

    def __init__(self, spark, config):
        self.spark, self.config = spark, config
        ensure_tables(spark, config)

    def _append(self, frame, table, partition_by=None):
        writer = frame.write.format("delta").mode("append")
        if partition_by:
            writer = writer.partitionBy(partition_by)
        writer.save(table_path(self.config, table))

    def events(self, generated: pd.DataFrame):
        """A generator-shaped pandas frame -> Spark events (as validated and stored by the stream)."""
        frame = generated.assign(event_time=pd.to_datetime(generated.event_time, utc=True),
                                 ingested_at=pd.Timestamp.now(tz="UTC"), source_file="test.jsonl")
        in_flight = {"ingested_at": INGESTED, "source_file": SOURCE}  # as the sink holds them before storing
        typed = self.spark.createDataFrame(frame).select(
            *[F.col(f.name).cast(f.dataType).alias(in_flight.get(f.name, f.name))
              for f in events_schema(self.config).fields if f.name != "event_date"])
        return events_frame(typed, self.config)

    def append_events(self, generated: pd.DataFrame) -> None:
        self._append(self.events(generated), "events", "event_date")

    def append_scores(self, generated: pd.DataFrame, loaded) -> None:
        self._append(scores_frame(self.events(generated), self.config, loaded), "scores", "event_date")

    def append_quarantine(self, raws: list[str]) -> None:
        now = datetime.now(timezone.utc)
        rows = [(raw, "wrong_type", "test", "test.jsonl", 0, now, now.date(), len(raw.encode())) for raw in raws]
        self._append(self.spark.createDataFrame(rows, quarantine_schema()), "quarantine", "ingest_date")

    def append_labels(self, rows: list[tuple]) -> None:
        self._append(self.spark.createDataFrame(rows, labels_schema(self.config)), "labels")

    def read(self, table):
        return self.spark.read.format("delta").load(table_path(self.config, table))

    @staticmethod
    def generate(start: datetime, count: int, seed: int = 3, hours: float = 24, **sim_options) -> tuple:
        """(events, truth) from the fleet simulator over `hours` from `start`."""
        sim = FleetSimulator(devices=8, seed=seed, **sim_options)
        t0 = start.timestamp()
        return sim.generate(t0, t0 + hours * 3600, count, first_seq=int(t0))


@pytest.fixture
def lake(spark, tmp_path):
    return Lake(spark, config_in(tmp_path / "lake"))



@pytest.fixture(scope="module")
def module_lake(spark, tmp_path_factory):
    return Lake(spark, config_in(tmp_path_factory.mktemp("retrain") / "lake"))
