"""One DuckDB file per run: ``comments`` (one row each) and ``mentions`` (comment × category × polarity)."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from voc.errors import ConfigError
from voc.io.readers import Rejected
from voc.text.pii import mask_pii

STORE_NAME = "voc.duckdb"
STR_LIST = pa.list_(pa.string())
# DuckDB's own memory (buffers, hash tables) is capped so a run's memory stays flat as its input grows;
# larger joins and aggregations spill to disk. VOC_DUCKDB_MEMORY overrides it (e.g. 2GB).
DUCKDB_MEMORY = "256MB"
MEMORY_RETRIES = 4  # a query that still runs out of memory with one thread is retried with the cap doubled
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)?\s*$", re.IGNORECASE)
_UNIT = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def memory_cap_mb() -> int:
    """DuckDB's memory cap in MB, from ``VOC_DUCKDB_MEMORY`` (default 256MB)."""
    raw = os.environ.get("VOC_DUCKDB_MEMORY", DUCKDB_MEMORY)
    m = _SIZE_RE.match(raw)
    if not m:
        raise ConfigError(f"VOC_DUCKDB_MEMORY={raw!r} is not a size; use a value such as 256MB or 2GB")
    return max(16, int(float(m[1]) * _UNIT[(m[2] or "MB").upper()] / 1e6))


class CappedConnection:
    """A DuckDB connection under voc's memory cap.

    A query that runs out of memory (some aggregations cannot spill with several threads) is retried with
    one thread, then with the cap doubled, up to ``MEMORY_RETRIES`` times; the raised settings stay for
    the connection's later queries. Everything else is the wrapped ``duckdb.DuckDBPyConnection``.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, cap_mb: int):
        self._con = con
        self.cap_mb = cap_mb

    def execute(self, *args, **kwargs):
        """``DuckDBPyConnection.execute``, retried as above when DuckDB runs out of memory."""
        for attempt in range(MEMORY_RETRIES + 2):
            try:
                return self._con.execute(*args, **kwargs)
            except duckdb.OutOfMemoryException:
                if attempt > MEMORY_RETRIES:
                    raise
                if attempt == 0:
                    self._con.execute("SET threads=1")
                else:
                    self.cap_mb *= 2
                    self._con.execute(f"SET memory_limit='{self.cap_mb}MB'")
        raise AssertionError("unreachable")  # pragma: no cover

    def __getattr__(self, name):
        return getattr(self._con, name)


def connect(path: str | Path, read_only: bool = False) -> CappedConnection:
    """A connection to a run store with voc's memory cap (``VOC_DUCKDB_MEMORY``, default 256MB)."""
    cap = memory_cap_mb()
    try:
        con = duckdb.connect(str(path), read_only=read_only, config={"memory_limit": f"{cap}MB"})
    except duckdb.ConnectionException as e:  # the file is already open in this process with other settings
        if "different configuration" not in str(e):
            raise
        con = duckdb.connect(str(path), read_only=read_only)
    return CappedConnection(con, cap)


def comments_schema(segments: list[str], taxonomies: list[str]) -> pa.Schema:
    """Arrow schema of the comments table."""
    fields = [
        ("id", pa.string()), ("source_row", pa.int64()), ("date", pa.timestamp("us")), ("channel", pa.string()),
        ("source", pa.string()), ("nps", pa.float64()), ("csat", pa.float64()), ("rating", pa.float64()),
        ("ces", pa.float64()),
        *[(s, pa.string()) for s in segments],
        ("text", pa.string()), ("quality", pa.string()), ("pii", STR_LIST), ("emojis", STR_LIST),
        ("tokens", STR_LIST), ("keywords", STR_LIST), ("clauses", STR_LIST), ("clause_scores", pa.list_(pa.float64())),
        ("sentiment", pa.string()), ("p_negative", pa.float64()), ("p_neutral", pa.float64()),
        ("p_positive", pa.float64()),
        *[(t, pa.string()) for t in taxonomies],
    ]
    return pa.schema(fields)


MENTIONS_SCHEMA = pa.schema([
    ("comment_id", pa.string()), ("taxonomy", pa.string()), ("category", pa.string()), ("stage", pa.string()),
    ("polarity", pa.string()), ("evidence", pa.string()), ("phrase", pa.string()), ("clause", pa.string()),
])


def explode_mentions(batch: pd.DataFrame, taxonomies: list[str]) -> pd.DataFrame:
    """One row per comment × taxonomy category from the ``<name>_mentions`` columns."""
    fields = MENTIONS_SCHEMA.names[2:]
    cols: dict[str, list] = {name: [] for name in MENTIONS_SCHEMA.names}
    ids = batch["id"].tolist()
    for tax in taxonomies:
        per_comment = batch[f"{tax}_mentions"].tolist()
        flat = [m for ms in per_comment for m in ms]
        cols["comment_id"] += [cid for cid, ms in zip(ids, per_comment) for _ in ms]
        cols["taxonomy"] += [tax] * len(flat)
        for f in fields:
            cols[f] += [m.get(f) for m in flat]
    return pd.DataFrame(cols, columns=MENTIONS_SCHEMA.names)


class PartWriter:
    """Write one processed batch as numbered Parquet parts (run by the worker that processed it)."""

    def __init__(self, parts_dir: Path, segments: list[str], taxonomies: list[str]):
        self.dir = Path(parts_dir)
        self.schema = comments_schema(segments, taxonomies)

    def write(self, index: int, comments: pd.DataFrame, mentions: pd.DataFrame) -> None:
        """Write ``comments-INDEX.parquet`` and ``mentions-INDEX.parquet``."""
        import pyarrow.parquet as pq

        c = pa.Table.from_pandas(comments[self.schema.names], schema=self.schema, preserve_index=False)
        m = pa.Table.from_pandas(mentions[MENTIONS_SCHEMA.names], schema=MENTIONS_SCHEMA, preserve_index=False)
        pq.write_table(c, self.dir / f"comments-{index:07d}.parquet")
        pq.write_table(m, self.dir / f"mentions-{index:07d}.parquet")


class RunStore:
    """A run's DuckDB store, built from the Parquet parts the workers wrote, in input order."""

    def __init__(self, path: Path, segments: list[str], taxonomies: list[str]):
        self.path = Path(path)
        if self.path.exists():
            self.path.unlink()
        self.schema = comments_schema(segments, taxonomies)
        self.con = connect(self.path)
        self.con.execute("SET preserve_insertion_order=true")
        self.con.execute("SET threads=1")  # parts arrive while the workers use every core
        for table, schema in (("comments", self.schema), ("mentions", MENTIONS_SCHEMA)):
            self.con.register("_empty", schema.empty_table())
            self.con.execute(f"CREATE TABLE {table} AS SELECT * FROM _empty")
            self.con.unregister("_empty")

    def load_part(self, parts_dir: Path, index: int) -> None:
        """Insert part ``index`` (as written by :class:`PartWriter`) and delete its files.

        The pipeline calls it as each part arrives, in input order, so the store fills while the
        workers are still busy.
        """
        for table in ("comments", "mentions"):
            f = Path(parts_dir) / f"{table}-{index:07d}.parquet"
            if f.is_file():
                self.con.execute(f"INSERT INTO {table} SELECT * FROM read_parquet(?)", [f.as_posix()])
                f.unlink()

    def export_parquet(self, out_dir: Path) -> list[Path]:
        """Write ``comments.parquet`` and ``mentions.parquet`` next to the store."""
        self.con.execute(f"SET threads={os.cpu_count() or 1}")
        paths = []
        for table in ("comments", "mentions"):
            p = Path(out_dir) / f"{table}.parquet"
            self.con.execute(f"COPY {table} TO '{p.as_posix()}' (FORMAT PARQUET)")
            paths.append(p)
        return paths

    def count(self, table: str) -> int:
        """Rows in a table."""
        return int(self.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def close(self) -> None:
        """Checkpoint and close."""
        self.con.execute("CHECKPOINT")
        self.con.close()


class QuarantineWriter:
    """Stream rejected rows, PII-masked, to a UTF-8-BOM CSV (opens cleanly in Excel) with their reasons."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._f = open(self.path, "w", encoding="utf-8-sig", newline="")
        self._w = csv.writer(self._f)
        self._w.writerow(["row", "reason", "raw"])
        self.count = 0
        self.reasons: dict[str, int] = {}

    def write(self, items: list[Rejected]) -> None:
        """Append rejected records."""
        for r in items:
            self._w.writerow(["" if r.row is None else r.row, r.reason, mask_pii(r.raw)[0]])
            key = r.reason.split(":")[0]
            self.reasons[key] = self.reasons.get(key, 0) + 1
        self.count += len(items)

    def close(self) -> None:
        """Flush and close the file."""
        self._f.close()
