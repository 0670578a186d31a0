"""Parse raw JSON records and check them against the configured event schema.

`validate` is a pure transformation: it takes a DataFrame with the raw record
in `value` and returns it with every schema field parsed to its type and two
more columns, `reason` (a reason code, null for a valid event) and `detail`
(what exactly is wrong). Nothing is dropped: `split_valid` separates the two
outcomes so that rows in = valid rows + quarantined rows.

Reason codes, checked in this order (the first that applies wins):
oversized, empty_record, malformed_json, missing_required, wrong_type,
non_finite, out_of_range, unknown_field.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config import Config, FieldSpec

CORRUPT = "_corrupt_record"
# Spark's JSON reader renders NaN / Infinity (and overflowing numbers) as these quoted tokens.
NON_FINITE_TOKENS = ['"NaN"', '"Infinity"', '"+Infinity"', '"-Infinity"']
CAST_TYPES = {"double": "double", "long": "bigint", "string": "string"}


def _string_schema(config: Config) -> T.StructType:
    """Every field read as text, so a wrong type is seen instead of nulling the record."""
    fields = [T.StructField(f.name, T.StringType()) for f in config.schema.fields]
    return T.StructType(fields + [T.StructField(CORRUPT, T.StringType())])


def _typed(spec: FieldSpec, text: Column) -> Column:
    if spec.type == "timestamp":
        return F.try_to_timestamp(text)
    return text.try_cast(CAST_TYPES[spec.type])


def _problem(condition: Column, code: str, detail: Column) -> Column:
    return F.when(condition, F.struct(F.lit(code).alias("code"), detail.alias("detail")))


def _field_problems(spec: FieldSpec, text: Column, value: Column) -> list[tuple[str, Column]]:
    """(code, problem column) pairs for one field, each null when the field is fine."""
    name = spec.name
    problems = []
    if spec.required:
        problems.append(("missing_required", _problem(text.isNull(), "missing_required", F.lit(f"{name}: required field is missing or null"))))
    if spec.is_numeric:
        non_finite = text.isin(NON_FINITE_TOKENS)
        problems.append(("non_finite", _problem(non_finite, "non_finite", F.concat(F.lit(f"{name}: not a finite number: "), text))))
        bad = text.isNotNull() & value.isNull() & ~non_finite
    else:
        bad = text.isNotNull() & value.isNull()
    problems.append(("wrong_type", _problem(bad, "wrong_type", F.concat(F.lit(f"{name}: expected {spec.type}, got "), F.substring(text, 1, 80)))))
    if spec.min is not None:
        problems.append(("out_of_range", _problem(value < spec.min, "out_of_range", F.concat(F.lit(f"{name}: "), value.cast("string"), F.lit(f" is below the minimum {spec.min}")))))
    if spec.max is not None:
        problems.append(("out_of_range", _problem(value > spec.max, "out_of_range", F.concat(F.lit(f"{name}: "), value.cast("string"), F.lit(f" is above the maximum {spec.max}")))))
    return problems


ORDER = ("missing_required", "wrong_type", "non_finite", "out_of_range")


def validate(raw: DataFrame, config: Config) -> DataFrame:
    """Parse `value` (one JSON object per record) and attach `reason` and `detail`."""
    value = F.col("value")
    parsed = raw.withColumn("_json", F.from_json(value, _string_schema(config), {"columnNameOfCorruptRecord": CORRUPT}))
    typed = {f.name: _typed(f, F.col("_json").getField(f.name)) for f in config.schema.fields}
    parsed = parsed.select("*", *[c.alias(name) for name, c in typed.items()])

    record_problems = [
        _problem(F.octet_length(value) > config.source.max_record_bytes, "oversized",
                 F.concat(F.lit("record is "), F.octet_length(value).cast("string"), F.lit(f" bytes, limit {config.source.max_record_bytes}"))),
        _problem(F.trim(value) == "", "empty_record", F.lit("empty line")),
        _problem(F.col("_json").getField(CORRUPT).isNotNull() | F.col("_json").isNull(), "malformed_json",
                 F.lit("not a JSON object")),
    ]
    by_code: dict[str, list[Column]] = {code: [] for code in ORDER}
    for spec in config.schema.fields:
        for code, problem in _field_problems(spec, F.col("_json").getField(spec.name), F.col(spec.name)):
            by_code[code].append(problem)
    field_problems = [p for code in ORDER for p in by_code[code]]

    checks = record_problems + field_problems
    if config.source.unknown_fields == "reject":
        known = F.array(*[F.lit(n) for n in config.schema.names])
        unknown = F.array_except(F.coalesce(F.json_object_keys(value), F.array().cast("array<string>")), known)
        checks.append(_problem(F.size(unknown) > 0, "unknown_field",
                               F.concat(F.lit("unknown fields: "), F.array_join(unknown, ", "))))

    first = F.get(F.filter(F.array(*checks), lambda p: p.isNotNull()), 0)
    return parsed.withColumn("_problem", first).select(
        *[c for c in parsed.columns if c != "_json"],
        F.col("_problem.code").alias("reason"),
        F.col("_problem.detail").alias("detail"),
    )


def split_valid(validated: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(valid events, rejected records) of a validated DataFrame."""
    return validated.filter(F.col("reason").isNull()), validated.filter(F.col("reason").isNotNull())
