"""The training window: pinned to one Delta version of `events`, and split by event time."""
from datetime import date, datetime, timedelta, timezone

from batch.window import holdout_cutoff, last_complete_day, latest_version, read_window, split_at
from lakehouse.catalog import table_path

DAY = date(2026, 11, 21)


def test_the_window_reads_one_version_even_while_events_keep_arriving(spark, lake):
    morning, _ = lake.generate(datetime(2026, 11, 21, 6, tzinfo=timezone.utc), 300, hours=2)
    lake.append_events(morning)
    other_day, _ = lake.generate(datetime(2026, 11, 22, 6, tzinfo=timezone.utc), 50, hours=1)
    lake.append_events(other_day)
    events, window = read_window(spark, lake.config, DAY)
    assert window.label == "2026-11-21" and window.events_version == latest_version(spark, table_path(lake.config, "events"))

    late, _ = lake.generate(datetime(2026, 11, 21, 9, tzinfo=timezone.utc), 40, seed=9, hours=1)
    lake.append_events(late)  # late events for the same day, after the job started
    assert events.count() == 300, "training and the recorded events_version agree"
    assert read_window(spark, lake.config, DAY)[0].count() == 340
    assert read_window(spark, lake.config, None, version=window.events_version)[0].count() == 350


def test_the_holdout_is_the_latest_share_by_event_time(spark, lake):
    generated, _ = lake.generate(datetime(2026, 11, 21, tzinfo=timezone.utc), 1000)
    lake.append_events(generated)
    events, _ = read_window(spark, lake.config, DAY)
    cutoff = holdout_cutoff(events, "event_time", 0.2)
    before, holdout = split_at(events, "event_time", cutoff)
    assert before.count() + holdout.count() == 1000
    assert 180 <= holdout.count() <= 220
    assert before.agg({"event_time": "max"}).first()[0] < holdout.agg({"event_time": "min"}).first()[0]


def test_last_complete_day_is_the_utc_day_before():
    assert last_complete_day(datetime(2026, 11, 22, 0, 30, tzinfo=timezone.utc)) == DAY
    assert last_complete_day(datetime(2026, 11, 22, 0, 30, tzinfo=timezone(timedelta(hours=2)))) == date(2026, 11, 20)
    assert last_complete_day(datetime(2026, 11, 21, 23, 30, tzinfo=timezone(timedelta(hours=-5)))) == DAY
