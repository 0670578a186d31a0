"""The `[schema]` and `[features]` sections: the events' fields and the numeric ones the model sees.

Why apart: the schema is the one required part of a config (no defaults), and
its checks are about names (duplicates, isoguard's own columns, columns a stored
table adds next to the fields), not about numbers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from lakehouse.columns import PREFIX, TABLE_COLUMNS
from lakehouse.config.reader import ConfigError, Section, setting

FIELD_TYPES = ("string", "double", "long", "timestamp")


@dataclass(frozen=True)
class FieldSpec:
    name: str                                  # required: read by _parse_fields
    type: str = setting("string", "choice", choices=FIELD_TYPES)
    required: bool = setting(False)
    min: float | None = setting(None)
    max: float | None = setting(None)

    @property
    def is_numeric(self) -> bool:
        return self.type in ("double", "long")


@dataclass(frozen=True)
class EventSchema:
    fields: tuple[FieldSpec, ...]
    event_id: str
    key: str
    event_time: str

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)


def _parse_fields(schema: Section) -> tuple[FieldSpec, ...]:
    specs, seen = [], set()
    for i, f in enumerate(schema.items("fields", FieldSpec)):
        name = f.get("name", str, required=True)
        if name.lower() in seen:  # Spark and Delta resolve column names case-insensitively
            raise ConfigError(f"schema.fields[{i}].name: duplicate field {name!r}")
        if name.lower().startswith(PREFIX):
            raise ConfigError(f"schema.fields[{i}].name: {name!r}: names starting with {PREFIX} are isoguard's own "
                              "columns; rename the field")
        seen.add(name.lower())
        spec = f.build(FieldSpec, name=name)
        if (spec.min is not None or spec.max is not None) and not spec.is_numeric:
            raise ConfigError(f"schema.fields[{i}]: min/max only apply to numeric fields, not {spec.type}")
        if spec.min is not None and spec.max is not None and spec.min > spec.max:
            raise ConfigError(f"schema.fields[{i}]: min {spec.min} is greater than max {spec.max}")
        specs.append(spec)
    if not specs:
        raise ConfigError("schema.fields: needs at least one field")
    return tuple(specs)


def parse_schema(root: Section) -> EventSchema:
    """[schema]: the fields, and which of them are the event id, the key and the event time."""
    schema = root.section("schema", EventSchema)  # no defaults: its fields name its keys
    fields = _parse_fields(schema)
    by_name = {f.name: f for f in fields}
    roles = {}
    for role, wanted in (("event_id", "string"), ("key", "string"), ("event_time", "timestamp")):
        name = schema.get(role, str, required=True)
        if name not in by_name:
            raise ConfigError(f"schema.{role}: {name!r} is not one of schema.fields")
        if by_name[name].type != wanted or not by_name[name].required:
            raise ConfigError(f"schema.{role}: field {name!r} must be a required {wanted}")
        roles[role] = name
    return EventSchema(fields=fields, **roles)


def parse_features(root: Section, schema: EventSchema) -> tuple[str, ...]:
    """[features] columns: numeric fields of the schema, none named like a column a stored table adds."""
    columns = root.section("features").get("columns", list, required=True)
    if not columns:
        raise ConfigError("features.columns: needs at least one feature")
    for name in columns:
        if name not in schema.names:
            raise ConfigError(f"features.columns: {name!r} is not one of schema.fields")
        if not schema.field(name).is_numeric:
            raise ConfigError(f"features.columns: {name!r} is not numeric")
    _check_table_columns(schema, columns)
    return tuple(columns)


def _check_table_columns(schema: EventSchema, features: list[str]) -> None:
    """Refuse an event field named like a column a stored table adds next to it (lakehouse/columns.py)."""
    stored = {"all": schema.names, "scored": [schema.event_id, schema.key, schema.event_time, *features],
              "key": [schema.key]}
    for table, (which, added) in TABLE_COLUMNS.items():
        for name in stored[which]:
            if name.lower() in added:
                raise ConfigError(f"schema.fields: {json.dumps(name)} is a column isoguard adds to the {table} table; "
                                  "rename the field")
