"""The nightly job's training sample is uniform over its window (issue 10).

The window is read as the nightly job reads it (batch.window.read_window: one
day of `events`, a Delta table partitioned by date and appended in arrival
order) and sampled by the sampler the forest's fit uses. Every hour of the day
is represented in proportion, the last hours included.
"""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
from pyspark.sql import functions as F

from batch.window import read_window
from models.sampling import draw_sample

DAY = datetime(2026, 11, 20, tzinfo=timezone.utc)
EVENTS = 40_000
SIZE = 20 * 256


def test_the_nightly_sample_covers_every_hour_in_proportion(lake):
    generated, _ = lake.generate(DAY, EVENTS, seed=6, hours=24, anomaly_rate=0.0)
    generated = generated.sort_values("event_time")
    for part in np.array_split(generated, 4):  # four appends, in arrival order
        lake.append_events(part)
    window, _ = read_window(lake.spark, lake.config, DAY.date())
    hours = window.select(F.hour("event_time").alias("hour"), "device_id")
    expected = hours.groupBy("hour").count().toPandas().set_index("hour")["count"] / EVENTS
    sample = draw_sample(hours, SIZE, seed=42)
    assert len(sample) == SIZE
    counts = sample.hour.value_counts().reindex(range(24), fill_value=0)
    for hour, count in counts.items():
        share = expected.get(hour, 0.0)
        assert abs(count - SIZE * share) <= 5 * np.sqrt(SIZE * share * (1 - share)) + 1, \
            f"hour {hour}: {count} sampled rows, expected about {SIZE * share:.0f}"
    devices = sample.device_id.value_counts()
    assert len(devices) == generated.device_id.nunique(), "every device is in the sample"
