"""Delta tables through delta-rs (no JVM): incremental reads, and appends that match the catalog schema.

A `DeltaFollower` keeps one table open across refreshes. Each refresh applies
only the commits that arrived since the last one, prunes files by partition
values and per-file min/max statistics, and reads only the files it has not
read before; files that compaction removed drop out of its memory.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time, timedelta, timezone
from typing import Callable, Sequence
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError
from pyspark.sql import types as T

from lakehouse.catalog import TABLE_PROPERTIES, tables
from lakehouse.config import Config

ARROW_TYPES = {
    T.StringType: pa.string(),
    T.DoubleType: pa.float64(),
    T.LongType: pa.int64(),
    T.BooleanType: pa.bool_(),
    T.DateType: pa.date32(),
    T.TimestampType: pa.timestamp("us", tz="UTC"),  # Delta `timestamp` is an instant, read back as UTC
}


def arrow_type(spark_type: T.DataType) -> pa.DataType:
    if isinstance(spark_type, T.ArrayType):
        return pa.list_(arrow_type(spark_type.elementType))
    return ARROW_TYPES[type(spark_type)]


def arrow_schema(config: Config, table: str) -> pa.Schema:
    """The catalog schema of `table` as the Arrow schema delta-rs reads and writes."""
    struct = tables(config)[table].schema
    return pa.schema([pa.field(f.name, arrow_type(f.dataType), nullable=f.nullable) for f in struct.fields])


def append_arrow(config: Config, table: str, data: pa.Table) -> None:
    """The one delta-rs append: Arrow rows in the catalog schema -> a catalog table.

    The table is created with the catalog's partitioning and properties if it is
    missing, as `ensure_tables` creates it with Spark, so either writer may come first.
    """
    spec = tables(config)[table]
    write_deltalake(config.lake_path(table), data, mode="append", partition_by=list(spec.partition_by) or None,
                    configuration=TABLE_PROPERTIES)


def append_rows(config: Config, table: str, rows: list[dict]) -> None:
    """Append rows (dicts by column name; a missing column is null) to a catalog table."""
    append_arrow(config, table, pa.Table.from_pylist(rows, schema=arrow_schema(config, table)))


def append_frame(config: Config, table: str, frame: pd.DataFrame) -> None:
    """Append a pandas frame to a catalog table; columns it lacks (a newer catalog's) are null, NaN is null."""
    schema = arrow_schema(config, table)
    missing = {name: pd.Series([None] * len(frame), index=frame.index, dtype=object)
               for name in schema.names if name not in frame}
    append_arrow(config, table, pa.Table.from_pandas(frame.assign(**missing)[schema.names], schema=schema,
                                                     preserve_index=False))


UNSUPPORTED_READER_FEATURES = {"deletionVectors", "columnMapping"}


class UnreadableTable(ValueError):
    """A table the dashboard cannot read correctly; the message is one line saying why."""


class DeltaFollower:
    """One Delta table followed across refreshes; every method is None-safe while the table does not exist.

    `refresh()` applies the new commits (cheap: the log since the last version).
    `files()` lists the data files with their partition values and min/max statistics,
    so callers prune with vectorised Arrow filters; `rows()` reads the chosen files,
    serving the ones it read before from memory.
    """

    def __init__(self, path: str, readers: int = 4):
        self.path = path
        self.readers = readers
        self._table: DeltaTable | None = None
        self._filesystem: pafs.FileSystem | None = None
        self._schema: pa.Schema | None = None
        self._files: dict[str, dict[str, pa.Table]] = {}
        self.opened = 0  # how often the table was (re)opened: a version number means something within one opening

    def refresh(self) -> int | None:
        """Catch up with the table; its version, or None while it does not exist.

        Raises UnreadableTable when the table uses a feature these plain file reads would get wrong.
        """
        if self._table is not None:
            try:
                if self._filesystem.get_file_info("_delta_log").type == pafs.FileType.NotFound:
                    raise TableNotFoundError(self.path)
                self._table.update_incremental()
            except DeltaError:  # deleted (e.g. `make clean`) or broken under us: start over
                self._table, self._files = None, {}
        if self._table is None:
            try:
                self._table = DeltaTable(self.path)
            except TableNotFoundError:
                return None
            self.opened += 1
            filesystem, root = pafs.FileSystem.from_uri(self._table.table_uri)
            self._filesystem = pafs.SubTreeFileSystem(root, filesystem)
        unsupported = set(self._table.protocol().reader_features or ()) & UNSUPPORTED_READER_FEATURES
        if unsupported:
            raise UnreadableTable(f"{self.path} uses {', '.join(sorted(unsupported))}: "
                                  "the dashboard's tables must not (see lakehouse.catalog.TABLE_PROPERTIES)")
        self._schema = pa.schema(self._table.schema().to_arrow())
        return self._table.version()

    @property
    def schema(self) -> pa.Schema | None:
        return self._schema

    def files(self) -> pa.Table | None:
        """One row per data file: `path`, `num_records`, `partition.<col>`, `min.<col>`, `max.<col>`."""
        return None if self._table is None else pa.table(self._table.get_add_actions(flatten=True))

    def rows(self, cache_key: str, columns: Sequence[str], files: pa.Table | None = None) -> pa.Table | None:
        """The rows of `files` (default: every file), only the `columns` the table has.

        Data columns only: partition values are not in the files. Files read under
        `cache_key` before come from memory; files not asked for any more are forgotten.
        """
        if self._table is None:
            return None
        tables = self.per_file(cache_key, columns, files, lambda rows: rows)
        return pa.concat_tables(tables) if tables else self._projection(columns).empty_table()

    def per_file(self, cache_key: str, columns: Sequence[str], files: pa.Table | None, summarise: Callable) -> list:
        """`summarise(rows of one file)` for each of `files`, computed once per file and `cache_key`."""
        if self._table is None:
            return []
        files = self.files() if files is None else files
        schema = self._projection(columns)
        key = f"{cache_key}:{','.join(schema.names)}"
        cached = self._files.get(key, {})
        paths = [unquote(p) for p in files.column("path").to_pylist()]
        missing = [p for p in paths if p not in cached]
        fmt = pads.ParquetFileFormat()

        def read(path: str):
            fragment = fmt.make_fragment(path, filesystem=self._filesystem)
            return summarise(fragment.to_table(schema=schema, columns=schema.names))

        if len(missing) > 1:
            with ThreadPoolExecutor(self.readers) as pool:
                fresh = dict(zip(missing, pool.map(read, missing)))
        else:
            fresh = {p: read(p) for p in missing}
        current = {p: cached[p] if p in cached else fresh[p] for p in paths}
        self._files[key] = current
        return list(current.values())

    def _projection(self, columns: Sequence[str]) -> pa.Schema:
        """The requested columns this table has (an older table may lack newer ones)."""
        return pa.schema([self._schema.field(c) for c in columns if c in self._schema.names])


def newest(files: pa.Table | None, column: str, kind: str = "max"):
    """The largest `kind`.`column` over the files (a max statistic or a partition value), or None."""
    name = f"{kind}.{column}"
    if files is None or name not in files.column_names or files.num_rows == 0:
        return None
    return pc.max(files[name]).as_py()


def at_least(files: pa.Table, column: str, value, kind: str = "max") -> pa.Table:
    """Files whose `kind`.`column` (max statistic or partition value) is >= value; files lacking it are kept."""
    name = f"{kind}.{column}"
    if name not in files.column_names:
        return files
    values = files.column(name)
    keep = pc.or_kleene(pc.greater_equal(values, pa.scalar(value, values.type)), pc.is_null(values))
    return files.filter(keep)


def recent_files(files: pa.Table, time_col: str, partition_col: str | None, span: timedelta):
    """(files that can hold rows in the last `span` of `time_col` before its newest value, that start).

    The newest value comes from the max statistics; without them, from the newest
    partition (then every file of the newest partition date and the span before it).
    The start is None when the table has no files.
    """
    end = newest(files, time_col)
    if end is None:
        latest = newest(files, partition_col, kind="partition") if partition_col else None
        if latest is None:
            return files, None
        end = datetime.combine(latest, time.max, tzinfo=timezone.utc)
    start = end - span
    if partition_col:
        files = at_least(files, partition_col, start.date(), kind="partition")
    return at_least(files, time_col, start), start


def at_most(files: pa.Table, column: str, value, kind: str = "min") -> pa.Table:
    """Files whose `kind`.`column` (min statistic or partition value) is <= value; files lacking it are kept."""
    name = f"{kind}.{column}"
    if name not in files.column_names:
        return files
    values = files.column(name)
    return files.filter(pc.or_kleene(pc.less_equal(values, pa.scalar(value, values.type)), pc.is_null(values)))


def newest_files(files: pa.Table, column: str, rows: int) -> pa.Table:
    """The files that can hold the newest `rows` rows by `column` (judged by their min/max statistics)."""
    name = f"max.{column}"
    if files.num_rows == 0 or name not in files.column_names or files.column(name).null_count:
        return files
    order = pc.sort_indices(files, [(name, "descending")])
    counts = np.cumsum(files.column("num_records").take(order).fill_null(1).to_numpy())
    chosen = files.take(order[: int(np.searchsorted(counts, rows)) + 1])
    cutoff = pc.min(chosen.column(f"min.{column}")).as_py()
    return files if cutoff is None else at_least(files, column, cutoff)


def within_budget(files: pa.Table, order_by: str, rows: int):
    """(the newest files by `order_by`, a column of `files`, holding at most `rows` rows (at least one file);
    the largest `order_by` among the files left out, or None when none was).

    Keeps a wide time range on a fast stream from filling the memory."""
    counts = files.column("num_records").fill_null(0) if files.num_rows else None
    if counts is None or order_by not in files.column_names or (pc.sum(counts).as_py() or 0) <= rows:
        return files, None
    order = pc.sort_indices(files, [(order_by, "descending")])
    cumulative = np.cumsum(counts.take(order).to_numpy())
    keep = max(1, int(np.searchsorted(cumulative, rows, side="right")))
    return files.take(order[:keep]), files.column(order_by).take(order[keep:keep + 1])[0].as_py()
