"""Parse raw JSON records and check them against the configured event schema.

`validate` is a pure transformation: it takes a DataFrame with the raw record
in `value` and returns it with every schema field parsed to its type and two
more columns, `reason` (a reason code, null for a valid event) and `detail`
(what exactly is wrong). Nothing is dropped: `split_valid` separates the two
outcomes so that rows in = valid rows + quarantined rows.

Reason codes, checked in this order (the first that applies wins):
oversized, invalid_utf8 (the bytes are not UTF-8 text; `readable_raw` gives the
text to store), empty_record, malformed_json / wrong_type (the record failed the
typed parse; a second, text-only parse of just those records says which field),
missing_required, non_finite, out_of_range, future_event_time / stale_event_time
(the event time is further ahead of / behind the ingestion time than
`source.max_event_time_ahead` / `max_event_time_behind`), unknown_field.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.catalog import SPARK_TYPES
from lakehouse.config import Config, FieldSpec

CORRUPT = "_isoguard_corrupt_record"  # not Spark's default name: an event may carry a "_corrupt_record" field
CAST_TYPES = {"double": "double", "long": "bigint", "string": "string", "timestamp": "timestamp"}
INFINITY = float("inf")
WHITESPACE = " \t\r\n\f\v"  # a line of only these is blank


def _schema(config: Config, as_text: bool) -> T.StructType:
    """The event schema for from_json, typed or (for diagnosis) every field as text."""
    fields = [T.StructField(f.name, T.StringType() if as_text else SPARK_TYPES[f.type]) for f in config.schema.fields]
    return T.StructType(fields + [T.StructField(CORRUPT, T.StringType())])


def _problem(condition: Column, code: str, detail: Column | str) -> Column:
    detail = F.lit(detail) if isinstance(detail, str) else detail
    return F.when(condition, F.struct(F.lit(code).alias("code"), detail.alias("detail")))


def _diagnosis(value: Column, config: Config) -> Column:
    """Why a record failed the typed parse: evaluated only for those (rare) records.

    The text-only parse sits inside lambdas so that Spark's common-subexpression
    elimination cannot hoist it out of the `when` and run it for every record.
    """
    def checks(text: Column) -> Column:
        found = [_problem(text.isNull() | text.getField(CORRUPT).isNotNull(), "malformed_json", "not a JSON object")]
        for spec in config.schema.fields:
            raw = text.getField(spec.name)
            found.append(_problem(raw.isNotNull() & raw.try_cast(CAST_TYPES[spec.type]).isNull(), "wrong_type",
                                  F.concat(F.lit(f"{spec.name}: expected {spec.type}, got "), F.substring(raw, 1, 80))))
        found.append(F.struct(F.lit("wrong_type").alias("code"),
                              F.lit("a value has the wrong JSON type (for example a quoted number)").alias("detail")))
        return F.coalesce(*found)

    def parse_as_text(raw: Column) -> Column:
        text = F.from_json(raw, _schema(config, as_text=True), {"columnNameOfCorruptRecord": CORRUPT})
        return F.get(F.transform(F.array(text), checks), 0)

    return F.get(F.transform(F.array(value), parse_as_text), 0)


def _field_problems(spec: FieldSpec, value: Column) -> dict[str, list[Column]]:
    name = spec.name
    found: dict[str, list[Column]] = {code: [] for code in ORDER}
    if spec.required:
        found["missing_required"].append(_problem(value.isNull(), "missing_required", f"{name}: required field is missing or null"))
    if spec.is_numeric:
        found["non_finite"].append(_problem(F.isnan(value) | (F.abs(value) == F.lit(INFINITY)), "non_finite",
                                            F.concat(F.lit(f"{name}: not a finite number: "), value.cast("string"))))
    if spec.min is not None:
        found["out_of_range"].append(_problem(value < spec.min, "out_of_range", F.concat(
            F.lit(f"{name}: "), value.cast("string"), F.lit(f" is below the minimum {spec.min}"))))
    if spec.max is not None:
        found["out_of_range"].append(_problem(value > spec.max, "out_of_range", F.concat(
            F.lit(f"{name}: "), value.cast("string"), F.lit(f" is above the maximum {spec.max}"))))
    return found


ORDER = ("missing_required", "non_finite", "out_of_range")


def _event_time_problems(config: Config, ingested_at: Column, newest_event_time: Column | None = None) -> list[Column]:
    """The event time against the ingestion time: too far ahead (a clock gone wrong) or behind (garbage or a lost replay).

    With `newest_event_time` (backfills: `source.event_time_bounds = "data"`) the stale
    bound counts from it, the newest event time stored so far, instead of the ingestion
    time; null (nothing stored yet) means no stale bound.
    """
    name, source = config.schema.event_time, config.source
    event_time = F.col(name)

    def offset(reference: Column) -> Column:
        return F.unix_micros(event_time) - F.unix_micros(reference)

    def detail(reference: Column, what: str, relation: str, limit: int) -> Column:
        return F.concat(F.lit(f"{name}: "), F.date_format(event_time, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"), F.lit(" is "),
                        F.abs(offset(reference) / 1_000_000).cast("long").cast("string"),
                        F.lit(f" s {relation} {what} "),
                        F.date_format(reference, "yyyy-MM-dd'T'HH:mm:ss'Z'"), F.lit(f" (limit {limit} s)"))

    ahead, behind = source.max_event_time_ahead_seconds, source.max_event_time_behind_seconds
    stale_from, stale_what = ingested_at, "the ingestion time"
    if newest_event_time is not None:
        stale_from, stale_what = newest_event_time, "the newest event time stored"
    # Whole microseconds: integer comparisons, no division for the (valid) majority.
    return [_problem(offset(ingested_at) > ahead * 1_000_000, "future_event_time",
                     detail(ingested_at, "the ingestion time", "ahead of", ahead)),
            _problem(offset(stale_from) < -behind * 1_000_000, "stale_event_time",
                     detail(stale_from, stale_what, "behind", behind))]


def readable_raw(value: Column) -> Column:
    """The record as text any UTF-8 reader accepts: each invalid byte sequence becomes U+FFFD."""
    return F.make_valid_utf8(value)


def validate(raw: DataFrame, config: Config, ingested_at: Column | None = None,
             newest_event_time: Column | None = None) -> DataFrame:
    """Parse `value` (one JSON object per record) and attach `reason` and `detail`.

    `ingested_at` is when the stream took the records in (the event-time bounds are
    relative to it); by default the query's current time. `newest_event_time`, if
    given, replaces it for the stale bound (backfills of history).
    """
    ingested_at = F.current_timestamp() if ingested_at is None else ingested_at
    value = F.col("value")
    parsed = raw.withColumn("_json", F.from_json(value, _schema(config, as_text=False), {"columnNameOfCorruptRecord": CORRUPT}))
    parsed = parsed.select("*", *[F.col("_json").getField(f.name).alias(f.name) for f in config.schema.fields])
    corrupt = F.col("_json").isNull() | F.col(f"_json.{CORRUPT}").isNotNull()

    checks = [
        _problem(F.octet_length(value) > config.source.max_record_bytes, "oversized",
                 F.concat(F.lit("record is "), F.octet_length(value).cast("string"),
                          F.lit(f" bytes, limit {config.source.max_record_bytes}"))),
        # Before any parsing: from_json would accept the bytes, and delta-rs cannot read them back.
        _problem(~F.is_valid_utf8(value), "invalid_utf8", F.concat(
            F.lit("not valid UTF-8 (raw shows each invalid byte sequence as U+FFFD); the bytes in base64: "),
            F.base64(value.cast("binary")))),
        # A blank line never parses, so only the records that failed the parse are trimmed.
        F.when(corrupt, F.coalesce(_problem(F.btrim(value, F.lit(WHITESPACE)) == "", "empty_record", "empty line"),
                                   _diagnosis(value, config))),
    ]
    by_code: dict[str, list[Column]] = {code: [] for code in ORDER}
    for spec in config.schema.fields:
        for code, problems in _field_problems(spec, F.col(spec.name)).items():
            by_code[code].extend(problems)
    checks += [p for code in ORDER for p in by_code[code]]
    checks += _event_time_problems(config, ingested_at, newest_event_time)
    if config.source.unknown_fields == "reject":
        known = F.array(*[F.lit(n) for n in config.schema.names])
        unknown = F.array_except(F.coalesce(F.json_object_keys(value), F.array().cast("array<string>")), known)
        checks.append(_problem(F.size(unknown) > 0, "unknown_field",
                               F.concat(F.lit("unknown fields: "), F.array_join(unknown, ", "))))

    return parsed.withColumn("_problem", F.coalesce(*checks)).select(
        *[c for c in parsed.columns if c != "_json"],
        F.col("_problem.code").alias("reason"),
        F.col("_problem.detail").alias("detail"),
    )


def split_valid(validated: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(valid events, rejected records) of a validated DataFrame."""
    return validated.filter(F.col("reason").isNull()), validated.filter(F.col("reason").isNotNull())
