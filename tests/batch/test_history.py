"""The nightly job's memory: a pattern seen only last week stays normal for a model trained with the history."""
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from batch.history import WEIGHT, next_history, training_set, without_labelled
from conftest import config_in
from lakehouse.catalog import labels_schema
from models.forest import IsolationForest

DAYS = 8                 # day 0 is last week's batch day; day 7 is the new day
PER_DAY = 1500
HISTORY_ROWS = 5000


def day_events(config, day: int, weekly_job: bool) -> pd.DataFrame:
    """A day of events; with `weekly_job`, the weekly batch day: CPU, memory, disk and network high all day."""
    rng = np.random.default_rng(day)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(days=day)
    times = start + pd.to_timedelta(np.sort(rng.uniform(0, 86400, PER_DAY)), unit="s")
    frame = pd.DataFrame({name: rng.normal(50, 5, PER_DAY) for name in config.features})
    frame["cpu_pct"], frame["mem_pct"] = rng.normal(30, 4, PER_DAY), rng.normal(40, 4, PER_DAY)
    job = np.full(PER_DAY, weekly_job)
    for name, level in (("cpu_pct", 85), ("mem_pct", 80), ("disk_io_mbps", 90), ("net_out_mbps", 95)):
        frame.loc[job, name] = rng.normal(level, 3, job.sum())
    s = config.schema
    frame[s.event_id] = [f"d{day}-{i}" for i in range(PER_DAY)]
    frame[s.key] = "dev-1"
    frame[s.event_time] = times
    frame["job"] = job
    return frame


def fit(config, training):
    m = config.model
    return IsolationForest(inputCols=list(config.features), numTrees=100, maxSamples=256, extensionLevel=0,
                           contamination=m.contamination, seed=1, weightCol=WEIGHT).fit(training)


@pytest.fixture(scope="module")
def week(spark, tmp_path_factory):
    config = config_in(tmp_path_factory.mktemp("history") / "lake")
    days = [day_events(config, d, weekly_job=(d == 0)) for d in range(DAYS)]
    frames = [spark.createDataFrame(d.drop(columns=["job"])) for d in days]
    history = None
    for d in range(DAYS - 1):  # the nightly runs of last week, each keeping the history
        weighted = training_set(frames[d], history, date(2026, 11, 1) + timedelta(days=d), 7.0, config)
        history = spark.createDataFrame(next_history(weighted, HISTORY_ROWS, config).toPandas())
    return config, days, frames, history


def test_a_pattern_seen_only_last_week_is_normal_for_the_integrated_model_and_not_for_a_one_day_model(spark, week):
    config, days, frames, history = week
    new_day = date(2026, 11, 1) + timedelta(days=DAYS - 1)
    integrated = fit(config, training_set(frames[-1], history, new_day, 7.0, config))
    one_day = fit(config, training_set(frames[-1], None, new_day, 7.0, config))
    pattern = spark.createDataFrame(days[0][days[0].job].drop(columns=["job"]))
    flagged = {name: model.transform(pattern).toPandas().is_anomaly.mean()
               for name, model in (("integrated", integrated), ("one day", one_day))}
    print("pattern flagged:", flagged)
    assert flagged["one day"] > 0.9, flagged
    assert flagged["integrated"] < 0.2, flagged
    normal = spark.createDataFrame(days[-1][~days[-1].job].drop(columns=["job"]))
    assert integrated.transform(normal).toPandas().is_anomaly.mean() < 0.03, "the day itself stays normal"


def test_the_history_is_bounded_holds_each_event_once_and_keeps_old_days_in_decaying_shares(week):
    config, _, _, history = week
    kept = history.toPandas()
    assert len(kept) == HISTORY_ROWS and kept[config.schema.event_id].is_unique
    per_day = kept[config.schema.event_id].str.split("-").str[0].value_counts()
    assert per_day["d6"] > per_day["d3"] > per_day["d0"] > 0, per_day.to_dict()


def test_events_labelled_later_leave_the_history(spark, week):
    config, _, _, history = week
    first = history.limit(3).toPandas()[config.schema.event_id].tolist()
    now = datetime.now(timezone.utc)
    labels = spark.createDataFrame(
        [(f"l{i}", "event", e, "dev-1", None, None, "true_positive", "analyst", None, now) for i, e in enumerate(first)],
        labels_schema(config))
    left = without_labelled(history, labels, config).toPandas()[config.schema.event_id]
    assert len(left) == HISTORY_ROWS - 3 and not set(first) & set(left)
