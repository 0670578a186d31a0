"""The names of the columns isoguard adds next to the user's event fields.

Two kinds, kept apart so that an event field may have any reasonable name:

- In flight, between a source and the tables, every column the pipeline adds (the raw
  record, where and when it arrived, the ingestion time, the verdict of validation) is
  named with the prefix `_isoguard_`. The config loader refuses field names with that
  prefix, so no event field can collide with them: fields called `value`, `key`,
  `timestamp`, `topic`, `offset`, `partition`, `reason` or `detail` work through files and
  Kafka alike. (Spark resolves names case-insensitively, so the check ignores case.)
- The stored tables carry columns of their own next to event fields (`events` adds
  `ingested_at`, `source_file`, `event_date`; `scores` adds `anomaly_score`, ...). Those
  names are the tables' public schema, read by the dashboard, the notebooks and users'
  own queries, so they stay as they are and the config loader refuses an event field of
  the same name, naming the table (`TABLE_COLUMNS`, checked against `lakehouse/catalog.py`
  by a test).
"""
from __future__ import annotations

PREFIX = "_isoguard_"

RAW = PREFIX + "value"                  # the record as read: a line of a landed file or a Kafka message value
SOURCE = PREFIX + "source_file"         # file path, or topic/partition/offset
ARRIVED = PREFIX + "arrived_at"         # file modification time, or Kafka message timestamp
INGESTED = PREFIX + "ingested_at"       # when the micro-batch took the record in
REASON = PREFIX + "reason"              # null for a valid event, else the quarantine reason code
DETAIL = PREFIX + "detail"              # what exactly is wrong
RECORD_BYTES = PREFIX + "record_bytes"  # the record's length in bytes, as it arrived

# Columns each stored table adds next to event fields, and which event fields it stores:
# "all" (every schema field), "scored" (event id, key, event time and the features) or "key".
TABLE_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "events": ("all", ("ingested_at", "source_file", "event_date")),
    "scores": ("scored", ("anomaly_score", "is_anomaly", "top_features", "threshold", "model_version", "scored_at",
                          "event_date")),
    "alerts": ("key", ("alert_id", "started_at", "ended_at", "anomalies", "peak_score", "top_features", "status",
                       "model_version", "updated_at", "closed_at")),
    "feature_summary": ("key", ("window_start", "window_end", "feature", "count", "mean", "std", "min", "max", "p50",
                                "p95", "p99", "written_at", "window_date")),
    "labels": ("key", ("label_id", "target", "target_id", "started_at", "ended_at", "verdict", "analyst", "note",
                       "labelled_at")),
    "baselines": ("key", ("feature", "count", "mean", "std", "p01", "p50", "p99", "window", "events_version",
                          "computed_at")),
}
