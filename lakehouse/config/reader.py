"""Typed reading of one TOML table, with each default taken from the section's dataclass.

Why a reader of its own: every setting's default is written once, on its config
dataclass field; `Section` looks the default up by field name, so the parsers
never repeat one. And it records every key it reads, so that once a whole file
is parsed a key nobody read is a misspelling (`num_tress`, `[modle]`,
`trigger_secs`): `check_known` refuses it in one line with the closest valid
name (`unknown setting model.num_tress (did you mean model.num_trees?)`,
`unknown section modle (did you mean model?)`), instead of the default being
used without a word.

A dataclass field declares its key with `setting(default, read=..., key=...)`:
the default, how the key is read and checked (`get`, `positive`, `choice`,
`duration`, `size`, plus an optional `check`), and the TOML name where it
differs from the field's; `Section.build` then reads a whole section in field
order, so most sections need no parser code of their own.

Invariants:
- a parser reads every key its section accepts, unconditionally (e.g.
  `[source.kafka]` also when `source.kind = "files"`), or that key is reported
  unknown;
- every error is a `ConfigError` whose message is one line naming the dotted key.
Cost: a dict lookup per key; nothing here is on a hot path.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Any, Callable

DURATION = re.compile(r"(\d+)\s*(second|minute|hour|day)s?")
DURATION_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
SIZE = re.compile(r"(\d+)\s*(b|kb|mb|gb)?")
SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9}


class ConfigError(ValueError):
    """A config file that cannot be used; the message is one line naming the key."""


# A field's annotation (a string: the modules use `from __future__ import annotations`) -> the TOML type read.
KINDS = {"str": str, "int": int, "float": float, "bool": bool, "tuple[str, ...]": list, "float | None": float}


def setting(default: Any, read: str = "get", key: str | None = None, check: Callable | None = None,
            **options: Any) -> Any:
    """A config dataclass field: its default (written only here) and how `Section.build` reads it.

    Args:
        default: the value where the key is absent (for `duration`, in seconds; for `size`, in bytes).
        read: the `Section` method that reads and checks the key: get, positive, choice, duration or size.
        key: the TOML key, where it is not the field's name (e.g. "window" for window_seconds).
        check: `check(section, key, value) -> value`, a further check (or conversion) after reading.
        options: passed to the method (allow_zero=True; choices=(...) for choice).
    """
    return dataclasses.field(default=default, metadata={"read": read, "key": key, "check": check, "options": options})


def field_default(cls: type, name: str) -> Any:
    """The default of dataclass `cls`'s field `name` (calling its default_factory): the one place it is written."""
    spec = next((f for f in dataclasses.fields(cls) if f.name == name), None)
    if spec is None:
        raise KeyError(f"{cls.__name__} has no field {name!r}")
    if spec.default is not dataclasses.MISSING:
        return spec.default
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    raise KeyError(f"{cls.__name__}.{name} has no default")


def format_duration(seconds: int) -> str:
    """Seconds as the config writes them: the largest unit that divides them, e.g. 120 -> "2 minutes"."""
    for unit, size in sorted(DURATION_UNITS.items(), key=lambda item: -item[1]):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def format_size(number: int) -> str:
    """Bytes as the config writes them: the largest decimal unit that divides them, e.g. 256000000 -> "256 MB"."""
    for unit, size in sorted(SIZE_UNITS.items(), key=lambda item: -item[1]):
        if number and number % size == 0 and size > 1:
            return f"{number // size} {unit.upper()}"
    return str(number)


class Section:
    """Typed access to one TOML table; defaults come from the dataclass `defaults`, errors name the dotted key.

    Args:
        data: the parsed table.
        prefix: its dotted path ("" for the file itself, "schema.fields[3]" for an array item).
        defaults: the dataclass whose field defaults apply where a key is absent (None: every key is required).
        parent: the enclosing section, to name a misspelled table.
    """

    def __init__(self, data: Any, prefix: str, defaults: type | None = None, parent: "Section | None" = None):
        if not isinstance(data, dict):
            raise ConfigError(f"{prefix}: must be a table")
        self.data, self.prefix, self.defaults, self.parent = data, prefix, defaults, parent
        self.read: dict[str, str] = {}          # key read -> how its default reads in a config file ("" if none)
        self.children: dict[str, Section] = {}  # sub-tables and array items, by key

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def default(self, field: str) -> Any:
        if self.defaults is None:
            raise KeyError(f"{self.prefix or 'the file'} has no defaults")
        return field_default(self.defaults, field)

    def _absent(self, name: str, field: str | None, required: bool, shown=None) -> tuple[bool, Any]:
        """(True, default) when `name` is absent and may be; records `name` as known either way."""
        if name in self.data:
            self.read.setdefault(name, "")
            return False, None
        if required:
            raise ConfigError(self._missing(name))
        value = self.default(field or name)
        self.read[name] = repr_default(value if shown is None else shown(value))
        return True, value

    def _missing(self, name: str) -> str:
        """A required key is absent: most likely misspelled, here or in the table's own name."""
        valid = set(self.read) | {f.name for f in dataclasses.fields(self.defaults)} if self.defaults else set(self.read)
        near = difflib.get_close_matches(name, [k for k in self.data if k not in valid], n=1)
        if near:
            return f"unknown setting {self.key(near[0])} (did you mean {self.key(name)}?)"
        if not self.data and self.parent is not None:
            leaf = self.prefix.rsplit(".", 1)[-1]
            near = difflib.get_close_matches(leaf, [k for k in self.parent.data if k not in self.parent.children], n=1)
            if near:
                return f"unknown section {self.parent.key(near[0])} (did you mean {self.prefix}?)"
        return f"{self.key(name)}: missing required key"

    def get(self, name: str, kind: type | tuple, required: bool = False, field: str | None = None):
        """The value of `name`, of type `kind`; absent: the default of dataclass field `field` (default: `name`)."""
        absent, default = self._absent(name, field, required)
        if absent:
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise ConfigError(f"{self.key(name)}: expected {kinds[0].__name__}, got {value!r}")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds):
            raise ConfigError(f"{self.key(name)}: expected {kinds[0].__name__}, got {value!r}")
        return value

    def positive(self, name: str, kind: type, allow_zero: bool = False, field: str | None = None):
        value = self.get(name, kind, field=field)
        if value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ConfigError(f"{self.key(name)}: must be {bound}, got {value!r}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], field: str | None = None) -> str:
        value = self.get(name, str, field=field)
        if value not in choices:
            raise ConfigError(f"{self.key(name)}: must be one of {', '.join(choices)}, got {value!r}")
        return value

    def duration(self, name: str, field: str, allow_zero: bool = False) -> int:
        """A span like "1 minute" or "90 seconds", in seconds; absent: field `field`'s default (in seconds)."""
        absent, default = self._absent(name, field, False, shown=format_duration)
        if absent:
            return default
        text = self.get(name, str)
        match = DURATION.fullmatch(text.strip().lower())
        if not match or (int(match[1]) == 0 and not allow_zero):
            raise ConfigError(f"{self.key(name)}: expected a duration like '1 minute' or '30 seconds'"
                              f"{'' if allow_zero else ' (more than 0)'}, got {text!r}")
        return int(match[1]) * DURATION_UNITS[match[2]]

    def size(self, name: str, field: str | None = None) -> int:
        """A byte count: a whole number of bytes or a string like "256 MB" (decimal units); 0 allowed."""
        absent, default = self._absent(name, field, False, shown=format_size)
        if absent:
            return default
        value = self.get(name, (int, str))
        if isinstance(value, int):
            number = value
        else:
            match = SIZE.fullmatch(value.strip().lower())
            if not match:
                raise ConfigError(f"{self.key(name)}: expected a size like '256 MB' or a number of bytes, got {value!r}")
            number = int(match[1]) * SIZE_UNITS[match[2] or "b"]
        if number < 0:
            raise ConfigError(f"{self.key(name)}: must be >= 0, got {value!r}")
        return number

    def build(self, cls: type, **given: Any) -> Any:
        """An instance of dataclass `cls`: each field declared with `setting` read from this table, in field order.

        `given` holds the fields a section's parser reads itself: a value, or a function of the values
        read so far, called at the field's turn (so keys are read, and errors found, in field order).
        """
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            if spec.name in given:
                value = given[spec.name]
                values[spec.name] = value(values) if callable(value) else value
                continue
            if "read" not in spec.metadata:
                continue
            meta, key = spec.metadata, spec.metadata["key"] or spec.name
            options = dict(meta["options"])
            if meta["read"] in ("duration", "size"):
                value = getattr(self, meta["read"])(key, field=spec.name, **options)
            elif meta["read"] == "choice":
                value = self.choice(key, options.pop("choices"), field=spec.name)
            else:
                value = getattr(self, meta["read"])(key, KINDS[spec.type], field=spec.name, **options)
            values[spec.name] = meta["check"](self, key, value) if meta["check"] else value
        return cls(**values)

    def section(self, name: str, defaults: type | None = None) -> "Section":
        """The sub-table `name` (empty when absent), read with the defaults of dataclass `defaults`."""
        child = Section(self.data.get(name, {}), self.key(name), defaults, parent=self)
        self.children[name] = child
        return child

    def items(self, name: str, defaults: type | None = None) -> list["Section"]:
        """The array of tables `name` (required), one Section per item, e.g. schema.fields[0], [1], ..."""
        raw = self.get(name, list, required=True)
        items = [Section(item, f"{self.key(name)}[{i}]", defaults, parent=self) for i, item in enumerate(raw)]
        for i, item in enumerate(items):
            self.children[f"{name}[{i}]"] = item
        return items

    def unknown_keys(self) -> list[str]:
        """One message per key of this table (and the tables under it) that no parser read."""
        messages = []
        known = [*self.read, *(k for k in self.children if "[" not in k)]
        for name, value in self.data.items():
            if name in self.read or name in self.children:
                continue
            what = "section" if isinstance(value, dict) else "setting"
            near = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {self.key(near[0])}?" if near else f"valid: {', '.join(known) or 'none'}"
            messages.append(f"unknown {what} {self.key(name)} ({hint})")
        for child in self.children.values():
            messages += child.unknown_keys()
        return messages

    def check_known(self) -> None:
        """Raise a ConfigError for the first unknown key (and say how many more there are)."""
        messages = self.unknown_keys()
        if messages:
            more = f"; and {len(messages) - 1} more unknown" if len(messages) > 1 else ""
            raise ConfigError(messages[0] + more)

    def defaults_read(self) -> dict[str, str]:
        """Dotted key -> its default as written in a config file, for every key read here and below with one."""
        found = {self.key(name): shown for name, shown in self.read.items() if shown}
        for name, child in self.children.items():
            if "[" not in name:
                found.update(child.defaults_read())
        return found


def repr_default(value: Any) -> str:
    """A default as a TOML value: strings quoted, booleans lower case, lists in brackets."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(repr_default(v) for v in value) + "]"
    return repr(value)
