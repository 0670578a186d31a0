"""Parse raw JSON records and check them against the configured event schema.

`validate` is a pure transformation: it takes a DataFrame with the raw record in
`_isoguard_value` (lakehouse/columns.py: the pipeline's own columns carry a prefix
no event field may have, so a field may be called `value`) and returns it with
every schema field parsed to its type and two more columns, `_isoguard_reason` (a
reason code, null for a valid event) and `_isoguard_detail` (what exactly is
wrong). Nothing is dropped: `split_valid` separates the two outcomes so that rows
in = valid rows + quarantined rows.

Reason codes, checked in this order (the first that applies wins):
oversized, invalid_utf8 (the bytes are not UTF-8 text; `readable_raw` gives the
text to store), empty_record, too_deep (valid JSON may be, but nested deeper than
the 1000 levels Spark's JSON parser accepts), malformed_json / wrong_type (the
record failed the typed parse; a second, text-only parse of just those records
says which field), duplicate_field (a key twice in the object: the parser would
keep the last value and bypass the checks on the first), bad_event_time (the
event time is not in an accepted form: an ISO-8601 date-time with a time of day,
or epoch seconds as a JSON number, up to year 9999; a date alone or epoch
milliseconds are refused rather than read as midnight or as year 58881),
missing_required (absent, null, or a required string that is blank: empty, or
only whitespace or control characters, such as an event id that would otherwise
make every later blank id a duplicate), non_finite, out_of_range,
future_event_time / stale_event_time (the event time is further ahead of /
behind the ingestion time than `source.max_event_time_ahead` /
`max_event_time_behind`), unknown_field.

The checks that need the record's text a second time (the diagnosis of a failed
parse, the form of an event time at exactly midnight or beyond year 9999) run
only for those rare records; the one extra pass over every record is
`json_object_keys`, shared by the duplicate- and unknown-field checks.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.catalog import SPARK_TYPES
from lakehouse.columns import DETAIL, PREFIX, RAW, REASON
from lakehouse.config import Config, EventSchema, FieldSpec, SourceConfig
from lakehouse.eventtime import MICROS

CORRUPT = PREFIX + "corrupt_record"  # not Spark's default name: an event may carry a "_corrupt_record" field
JSON = PREFIX + "json"
KEYS = PREFIX + "keys"
PROBLEM = PREFIX + "problem"
CAST_TYPES = {"double": "double", "long": "bigint", "string": "string", "timestamp": "timestamp"}
INFINITY = float("inf")
WHITESPACE = " \t\r\n\f\v"  # a line of only these is blank
# A required string of only these is blank: control (NUL, tabs, line breaks), format (zero-width, BOM) and space
# characters (including no-break and ideographic spaces).
BLANK = r"^[\p{Cc}\p{Cf}\p{Z}]*$"
# Spark's JSON parser (Jackson's StreamReadConstraints) refuses documents nested deeper than this; the outer
# object is level 1.
JSON_MAX_DEPTH = 1000
DAY_MICROS = 86_400 * MICROS
# The end of year 9999: Spark holds later times, but no ISO-8601 date-time (or a real event) has them.
MAX_MICROS = 253_402_300_800 * MICROS - 1
EVENT_TIME_FORMS = "an ISO-8601 date-time with a time of day (zone optional, UTC if none) or epoch seconds as a JSON number"


def _schema(schema: EventSchema, as_text: bool) -> T.StructType:
    """The event schema for from_json, typed or (for diagnosis) every field as text."""
    fields = [T.StructField(f.name, T.StringType() if as_text else SPARK_TYPES[f.type]) for f in schema.fields]
    return T.StructType(fields + [T.StructField(CORRUPT, T.StringType())])


def _problem(condition: Column, code: str, detail: Column | str) -> Column:
    detail = F.lit(detail) if isinstance(detail, str) else detail
    return F.when(condition, F.struct(F.lit(code).alias("code"), detail.alias("detail")))


def _only_for(value: Column, check) -> Column:
    """`check(value)`, evaluated only where the surrounding `when` reaches it.

    The check sits inside a lambda so that Spark's common-subexpression elimination
    cannot hoist it out of the `when` and run it for every record.
    """
    return F.get(F.transform(F.array(value), check), 0)


def _nesting_depth(text: Column) -> Column:
    """How deep the brackets of a JSON text nest, outside string literals."""
    brackets = F.regexp_replace(F.regexp_replace(text, r'"(?:[^"\\]|\\.)*"', ""), r"[^\[\]{}]", "")
    step = lambda c: F.when(c.isin("[", "{"), 1).otherwise(-1)  # noqa: E731
    depth = F.aggregate(F.split(brackets, ""), F.struct(F.lit(0).alias("d"), F.lit(0).alias("m")),
                        lambda acc, c: F.struct((acc.d + step(c)).alias("d"), F.greatest(acc.m, acc.d + step(c)).alias("m")),
                        lambda acc: acc.m)
    openers = F.length(F.regexp_replace(brackets, r"[\]}]", ""))
    return F.when(openers > JSON_MAX_DEPTH, depth).otherwise(openers)  # the exact depth only where it can matter


def _diagnosis(value: Column, schema: EventSchema) -> Column:
    """Why a record failed the typed parse: evaluated only for those (rare) records."""
    def checks(text: Column) -> Column:
        found = [_problem(text.isNull() | text.getField(CORRUPT).isNotNull(), "malformed_json", "not a JSON object")]
        for spec in schema.fields:
            raw = text.getField(spec.name)
            found.append(_problem(raw.isNotNull() & raw.try_cast(CAST_TYPES[spec.type]).isNull(), "wrong_type",
                                  F.concat(F.lit(f"{spec.name}: expected {spec.type}, got "), F.substring(raw, 1, 80))))
        found.append(F.struct(F.lit("wrong_type").alias("code"),
                              F.lit("a value has the wrong JSON type (for example a quoted number)").alias("detail")))
        return F.coalesce(*found)

    def parse_as_text(raw: Column) -> Column:
        too_deep = _problem(_nesting_depth(raw) > JSON_MAX_DEPTH, "too_deep",
                            f"JSON nested deeper than {JSON_MAX_DEPTH} levels (the limit of Spark's JSON parser)")
        text = F.from_json(raw, _schema(schema, as_text=True), {"columnNameOfCorruptRecord": CORRUPT})
        return F.coalesce(too_deep, _only_for(text, checks))

    return _only_for(value, parse_as_text)


def _duplicate_fields(keys: Column) -> Column:
    """A key the JSON object holds twice: the parser keeps the last value, which would skip the checks on the first."""
    repeated = F.array_distinct(F.filter(keys, lambda k: F.size(F.filter(keys, lambda other: other == k)) > 1))
    return _problem(F.size(keys) > F.size(F.array_distinct(keys)), "duplicate_field",
                    F.concat(F.lit("fields given more than once: "), F.array_join(repeated, ", ")))


def _event_time_form(value: Column, name: str) -> Column:
    """An event time parsed from a form that is not accepted: a date without a time of day, epoch milliseconds.

    Spark reads a date alone ("2026-11-29", even "2026") as midnight, and any JSON
    number as epoch seconds (milliseconds then land in year 58881). Such values are
    exactly midnight or beyond year 9999, so only those records are parsed again, for
    the field's text and whether it was a number. `name` is the event-time field.
    """
    micros = F.unix_micros(F.col(name))
    beyond = micros > MAX_MICROS  # (a time before year 1 is stale_event_time, whatever its form)

    def form(raw: Column) -> Column:
        text = F.from_json(raw, T.StructType([T.StructField(name, T.StringType())])).getField(name)
        number = F.from_json(raw, T.StructType([T.StructField(name, T.DoubleType())])).getField(name).isNotNull()
        got = F.concat(F.lit(f"{name}: expected {EVENT_TIME_FORMS}, got "), F.substring(text, 1, 80))
        return F.coalesce(
            _problem(beyond & number, "bad_event_time", F.concat(got, F.lit(
                " as epoch seconds, which is beyond year 9999 (epoch milliseconds?)"))),
            _problem(beyond, "bad_event_time", F.concat(got, F.lit(", beyond year 9999"))),
            _problem(~number & ~text.rlike(r"\d[T ]\d"), "bad_event_time", F.concat(got, F.lit(
                ", a date without a time of day"))))

    return F.when(beyond | (micros % DAY_MICROS == 0), _only_for(value, form))


def _field_problems(spec: FieldSpec, value: Column) -> dict[str, list[Column]]:
    name = spec.name
    found: dict[str, list[Column]] = {code: [] for code in ORDER}
    if spec.required:
        found["missing_required"].append(_problem(value.isNull(), "missing_required", f"{name}: required field is missing or null"))
        if spec.type == "string":
            # The regex only where the first character is not printable ASCII (almost never, for real ids).
            blank = ~F.ascii(value).between(33, 126) & value.rlike(BLANK)
            found["missing_required"].append(_problem(blank, "missing_required", F.concat(
                F.lit(f"{name}: required field is blank (empty, or only whitespace or control characters): "),
                F.to_json(F.array(F.substring(value, 1, 20))))))
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


def _event_time_problems(name: str, source: SourceConfig, ingested_at: Column,
                         newest_event_time: Column | None = None) -> list[Column]:
    """The event time against the ingestion time: too far ahead (a clock gone wrong) or behind (garbage or a lost replay).

    With `newest_event_time` (backfills: `source.event_time_bounds = "data"`) the stale
    bound counts from it, the newest event time stored so far, instead of the ingestion
    time; null (nothing stored yet) means no stale bound. `name` is the event-time field.
    """
    event_time = F.col(name)

    def offset(reference: Column) -> Column:
        return F.unix_micros(event_time) - F.unix_micros(reference)

    def detail(reference: Column, what: str, relation: str, limit: int) -> Column:
        return F.concat(F.lit(f"{name}: "), F.date_format(event_time, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"), F.lit(" is "),
                        F.abs(offset(reference) / MICROS).cast("long").cast("string"),
                        F.lit(f" s {relation} {what} "),
                        F.date_format(reference, "yyyy-MM-dd'T'HH:mm:ss'Z'"), F.lit(f" (limit {limit} s)"))

    ahead, behind = source.max_event_time_ahead_seconds, source.max_event_time_behind_seconds
    stale_from, stale_what = ingested_at, "the ingestion time"
    if newest_event_time is not None:
        stale_from, stale_what = newest_event_time, "the newest event time stored"
    # Whole microseconds: integer comparisons, no division for the (valid) majority.
    return [_problem(offset(ingested_at) > ahead * MICROS, "future_event_time",
                     detail(ingested_at, "the ingestion time", "ahead of", ahead)),
            _problem(offset(stale_from) < -behind * MICROS, "stale_event_time",
                     detail(stale_from, stale_what, "behind", behind))]


def readable_raw(value: Column) -> Column:
    """The record as text any UTF-8 reader accepts: each invalid byte sequence becomes U+FFFD."""
    return F.make_valid_utf8(value)


def stored_raw(value: Column, limit: int) -> Column:
    """The record as quarantine stores it: whole up to `limit` bytes, else its first `limit` bytes; readable either way.

    A cut inside a multi-byte character drops that character's bytes, so the prefix
    ends at a character boundary (as would a genuinely invalid sequence right at the
    cut, shown as U+FFFD otherwise). Enough to see what went wrong, without storing a
    50 MB line whole; the record's full length goes next to it.
    """
    prefix = F.make_valid_utf8(F.substring(value.cast("binary"), 1, limit).cast("string"))
    return F.when(F.octet_length(value) <= limit, readable_raw(value)).otherwise(
        F.regexp_replace(prefix, "\uFFFD{1,3}$", ""))


def validate(raw: DataFrame, config: Config, ingested_at: Column | None = None,
             newest_event_time: Column | None = None) -> DataFrame:
    """Parse the raw record (one JSON object per record) and attach the reason and the detail columns.

    `ingested_at` is when the stream took the records in (the event-time bounds are
    relative to it); by default the query's current time. `newest_event_time`, if
    given, replaces it for the stale bound (backfills of history). Of `config`, only
    the `[schema]` and `[source]` sections are read.
    """
    schema, source = config.schema, config.source
    ingested_at = F.current_timestamp() if ingested_at is None else ingested_at
    value = F.col(RAW)
    parsed = raw.withColumn(JSON, F.from_json(value, _schema(schema, as_text=False), {"columnNameOfCorruptRecord": CORRUPT}))
    # Top-level keys: one scan of the text, shared by the duplicate- and the unknown-field check. A column of
    # its own, like the parse: used inline, each use would scan the text again.
    parsed = parsed.withColumn(KEYS, F.coalesce(F.json_object_keys(value), F.array().cast("array<string>")))
    parsed = parsed.select("*", *[F.col(JSON).getField(f.name).alias(f.name) for f in schema.fields])
    corrupt = F.col(JSON).isNull() | F.col(JSON).getField(CORRUPT).isNotNull()
    keys = F.col(KEYS)

    checks = [
        _problem(F.octet_length(value) > source.max_record_bytes, "oversized",
                 F.concat(F.lit("record is "), F.octet_length(value).cast("string"),
                          F.lit(f" bytes, limit {source.max_record_bytes}"))),
        # Before any parsing: from_json would accept the bytes, and delta-rs cannot read them back.
        _problem(~F.is_valid_utf8(value), "invalid_utf8", F.concat(
            F.lit("not valid UTF-8 (raw shows each invalid byte sequence as U+FFFD); the bytes in base64: "),
            F.base64(value.cast("binary")))),
        # A blank line never parses, so only the records that failed the parse are trimmed.
        F.when(corrupt, F.coalesce(_problem(F.btrim(value, F.lit(WHITESPACE)) == "", "empty_record", "empty line"),
                                   _diagnosis(value, schema))),
        _duplicate_fields(keys),
        _event_time_form(value, schema.event_time),
    ]
    by_code: dict[str, list[Column]] = {code: [] for code in ORDER}
    for spec in schema.fields:
        for code, problems in _field_problems(spec, F.col(spec.name)).items():
            by_code[code].extend(problems)
    checks += [p for code in ORDER for p in by_code[code]]
    checks += _event_time_problems(schema.event_time, source, ingested_at, newest_event_time)
    if source.unknown_fields == "reject":
        known = F.array(*[F.lit(n) for n in schema.names])
        unknown = F.array_except(keys, known)
        checks.append(_problem(F.size(unknown) > 0, "unknown_field",
                               F.concat(F.lit("unknown fields: "), F.array_join(unknown, ", "))))

    return parsed.withColumn(PROBLEM, F.coalesce(*checks)).select(
        *[c for c in parsed.columns if c not in (JSON, KEYS)],
        F.col(PROBLEM).getField("code").alias(REASON),
        F.col(PROBLEM).getField("detail").alias(DETAIL),
    )


def split_valid(validated: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(valid events, rejected records) of a validated DataFrame."""
    return validated.filter(F.col(REASON).isNull()), validated.filter(F.col(REASON).isNotNull())
