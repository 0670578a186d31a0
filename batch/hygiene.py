"""Training hygiene: what a retrain must not learn as normal.

A persistent anomaly must not teach the model that it is normal, so rows of
the training window are excluded when

- `quarantined`: their event id also appears in `quarantine` (a rejected
  record never reaches `events`, but a duplicate of it may);
- `labelled`: an analyst's latest verdict covering the event (on the event
  itself or on an alert spanning it) is `true_positive`;
- `flagged`: the model serving at the time scored it at least `margin` above
  its threshold (`scores.anomaly_score >= scores.threshold + margin`; a margin
  of 0 excludes every event it flagged).

Each excluded row is counted once, under the first of these reasons that
applies (in the order above). Everything is joins in Spark; only the counts
per reason come back to the driver.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from batch.window_labels import LABEL, verdicts_per_event
from lakehouse.config import Config

REASONS = ("quarantined", "labelled", "flagged")


def quarantined_ids(quarantine: DataFrame, config: Config) -> DataFrame:
    """Event ids found in quarantined raw records (JSON records that carried one)."""
    event_id = config.schema.event_id
    return (quarantine.select(F.get_json_object("raw", f"$['{event_id}']").alias(event_id))
            .filter(F.col(event_id).isNotNull()))


def flagged_ids(scores: DataFrame, config: Config, margin: float) -> DataFrame:
    """Event ids the serving model scored far above its own threshold."""
    return scores.filter(F.col("anomaly_score") >= F.col("threshold") + F.lit(margin)).select(config.schema.event_id)


def exclusions(window: DataFrame, config: Config, *, quarantine: DataFrame, scores: DataFrame, labels: DataFrame,
               margin: float) -> DataFrame:
    """(event id, reason) for each event of `window` that training must leave out."""
    event_id = config.schema.event_id
    ids = window.select(event_id)
    candidates = {
        "quarantined": quarantined_ids(quarantine, config),
        "labelled": verdicts_per_event(window, labels, config).filter(F.col(LABEL) == 1).select(event_id),
        "flagged": flagged_ids(scores, config, margin),
    }
    ranked = None
    for rank, reason in enumerate(REASONS):
        found = candidates[reason].join(ids, event_id, "left_semi").select(event_id, F.lit(rank).alias("_rank"))
        ranked = found if ranked is None else ranked.unionByName(found)
    return (ranked.groupBy(event_id).agg(F.min("_rank").alias("_rank"))
            .select(event_id, F.element_at(F.array(*map(F.lit, REASONS)), F.col("_rank") + 1).alias("reason")))


def without(window: DataFrame, excluded: DataFrame, config: Config) -> DataFrame:
    """The window minus the excluded events (an anti-join)."""
    return window.join(excluded.select(config.schema.event_id), config.schema.event_id, "left_anti")


def count_by_reason(window: DataFrame, excluded: DataFrame, config: Config) -> dict[str, int]:
    """Rows of `window` excluded per reason (every reason present, zero when none) and `total`."""
    rows = window.select(config.schema.event_id).join(excluded, config.schema.event_id).groupBy("reason").count()
    counts = {reason: 0 for reason in REASONS}
    counts.update({r.reason: int(r["count"]) for r in rows.collect()})
    counts["total"] = sum(counts.values())
    return counts
