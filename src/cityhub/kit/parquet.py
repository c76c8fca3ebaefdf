"""Parquet files replaced atomically: the lake's writers (connect's archive, the analytics facts export) share it.

A reader (DuckDB, Spark, pyarrow) never sees half a file: the table is written to a temporary file beside the
target, flushed to disk, renamed over the target, and the folder is flushed so the rename itself survives a crash
(the archive deletes the rows from the database only after this returns).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def write_atomic(path: Path, table: pa.Table, compression: str = "zstd") -> None:
    """Replace `path` with `table` (temporary file, fsync, rename, fsync of the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, tmp, compression=compression)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
