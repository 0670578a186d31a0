"""The nightly job's memory: a bounded, time-decayed sample of the clean training events of past days.

Why: a forest fitted on one day forgets everything before it, so a weekly job or
a month-end peak looks anomalous every time it comes back. The nightly job
trains on the new day together with this history, so rare-but-normal patterns
stay normal for weeks, fading with age instead of vanishing overnight.

Rule:
- A clean training event (what hygiene left of the day) weighs
  w = 0.5 ** (age / half_life_days), its age in days from its event date to
  the day being trained (0 for the new day; never above 1).
- Each event has a fixed uniform u from xxhash64(event id, seed); its key is
  -ln(u) / w (models.sampling.weighted_key). The history keeps the `rows`
  events with the smallest keys among the previous history and the new day's
  clean events, so as events age their keys grow and old days thin out
  smoothly; every event's chance to stay falls with its weight.
- The forest's training sample is drawn with the same weights from the new day
  and the history (the Estimator's `weightCol`).
- History rows an analyst has since labelled anomalous are dropped every night
  (hygiene's `labelled` rule, applied to the history).

Invariants: at most `rows` rows, whatever the history's length; the next
history is a function of (history, day's clean events, day, seed), and an
event is in it at most once (a day trained twice is not counted twice), so a
rerun (`--force`) writes the same table. One overwrite commit per retrain.

Cost: one sort of history + day rows by key (a global top-`rows`), one write of
at most `rows` rows; the union adds history rows to the forest's sample draw.
"""
from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from batch.window_labels import LABEL, verdicts_per_event
from lakehouse.config import Config
from models.sampling import weighted_key

WEIGHT = "_isoguard_weight"
KEY = "_isoguard_history_key"
SEED = 20_231  # fixed: an event's u must not change between nights


def history_columns(config: Config) -> list[str]:
    """The columns the history keeps: id, key, event time and the features."""
    s = config.schema
    return [s.event_id, s.key, s.event_time, *config.features]


def with_weights(frame: DataFrame, day: date, half_life_days: float, config: Config) -> DataFrame:
    """`frame` with its age-decayed weight (column `WEIGHT`) relative to `day`."""
    age = F.greatest(F.datediff(F.lit(day.isoformat()).cast("date"), F.to_date(config.schema.event_time)), F.lit(0))
    return frame.withColumn(WEIGHT, F.pow(F.lit(0.5), age.cast("double") / F.lit(float(half_life_days))))


def training_set(day_rows: DataFrame, history: DataFrame | None, day: date, half_life_days: float,
                 config: Config) -> DataFrame:
    """The new day's clean rows and the history, each event once, weighted (column `WEIGHT`)."""
    rows = day_rows.select(*history_columns(config))
    if history is not None:
        rows = rows.unionByName(history.select(*history_columns(config)))
    rows = with_weights(rows, day, half_life_days, config)
    once = Window.partitionBy(config.schema.event_id).orderBy(F.col(WEIGHT).desc())
    return rows.withColumn("_n", F.row_number().over(once)).filter("_n = 1").drop("_n")


def without_labelled(history: DataFrame, labels: DataFrame, config: Config) -> DataFrame:
    """The history minus events an analyst's latest verdict calls anomalous."""
    bad = verdicts_per_event(history, labels, config).filter(F.col(LABEL) == 1).select(config.schema.event_id)
    return history.join(bad, config.schema.event_id, "left_anti")


def next_history(weighted: DataFrame, rows: int, config: Config) -> DataFrame:
    """The `rows` events of a weighted training set with the smallest keys: the history to keep."""
    event_id = config.schema.event_id
    keyed = weighted.withColumn(KEY, weighted_key(F.xxhash64(F.col(event_id), F.lit(SEED)), F.col(WEIGHT)))
    return keyed.orderBy(KEY, event_id).limit(rows).select(*history_columns(config))
