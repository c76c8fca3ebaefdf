"""One SQL engine, two backends: DuckDB embedded (the default) and Apache Spark, over the same Parquet lake.

Queries are written once, in DuckDB's dialect; the Spark backend transpiles them with sqlglot to Spark SQL. Each
backend registers the lake's tables (`lake.TABLES`) as views of the same names and columns, runs the query under a
row limit (one row more is fetched to report truncation) and a time limit, and answers an Arrow table, so results
of the two compare value for value (`tests/compute/analytics/test_conformance.py`).

A running query is steered through its `QueryControl`: `progress()` (0..1, or None while unknown) and `cancel()`
from another thread — DuckDB's `interrupt()` and `query_progress()`, Spark's job groups and status tracker. The
time limit is the same cancel, fired by a timer.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import sqlglot
from sqlglot import exp

from cityhub.compute.analytics import lake
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _


class QueryCancelled(Exception):
    """The query was cancelled (by the caller, or by its time limit: `timed_out`)."""

    def __init__(self, timed_out: bool) -> None:
        super().__init__("timed out" if timed_out else "cancelled")
        self.timed_out = timed_out


@dataclass
class QueryControl:
    """Progress and cancel of one running query; the engine fills in its hooks while the query runs."""

    cancelled: bool = False
    timed_out: bool = False
    _cancel: Any = None
    _progress: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cancel(self, *, timed_out: bool = False) -> None:
        """Ask the engine to stop the query (safe from any thread, before, during or after it runs)."""
        with self._lock:
            self.cancelled = True
            self.timed_out = self.timed_out or timed_out
            hook = self._cancel
        if hook is not None:
            hook()

    def progress(self) -> float | None:
        """How far the running query is (0..1), or None when the engine cannot tell yet."""
        hook = self._progress
        if hook is None:
            return None
        try:
            return hook()  # type: ignore[no-any-return]  # the engine's hook returns float | None
        except Exception:  # the query ended between the check and the call
            return None

    def attach(self, cancel: Any, progress: Any) -> None:
        """The engine's hooks while its query runs (a cancel asked for before now fires at once)."""
        with self._lock:
            self._cancel, self._progress = cancel, progress
            pending = self.cancelled
        if pending and cancel is not None:
            cancel()

    def detach(self) -> None:
        """The query ended: its hooks go."""
        with self._lock:
            self._cancel = self._progress = None


@dataclass(frozen=True)
class Result:
    """A query's answer: the rows as an Arrow table (at most the row limit), truncation, engine, seconds."""

    table: pa.Table
    truncated: bool
    engine: str
    elapsed_s: float

    @property
    def columns(self) -> list[str]:
        """The column names, in order."""
        return list(self.table.column_names)

    def rows(self) -> list[tuple[Any, ...]]:
        """The rows as tuples of Python values (dates, UTC datetimes, floats …)."""
        cols = [c.to_pylist() for c in self.table.columns]
        return list(zip(*cols, strict=True)) if cols else []


class Engine(Protocol):
    """What the analytics service asks of a backend."""

    name: str

    def query(self, sql: str, *, max_rows: int, timeout_s: float, control: QueryControl | None = None,
              tables: Mapping[str, pa.Table] | None = None) -> Result:
        """Run one statement (DuckDB dialect) under the limits, `tables` as views beside the lake's.

        Raises QueryCancelled, or a 422 naming `sql`.
        """
        ...

    def close(self) -> None:
        """Release what the engine holds."""
        ...


def limited(sql: str, max_rows: int) -> str:
    """The query wrapped in the row limit (+1 to see truncation); the inner statement keeps its own ORDER BY."""
    return f"SELECT * FROM ({sql.strip().rstrip(';')}) AS _q LIMIT {int(max_rows) + 1}"


def _finish(table: pa.Table, max_rows: int, engine: str, started: float) -> Result:
    return Result(table=table.slice(0, max_rows), truncated=table.num_rows > max_rows, engine=engine,
                  elapsed_s=time.monotonic() - started)


def _timer(control: QueryControl, timeout_s: float) -> threading.Timer:
    timer = threading.Timer(timeout_s, lambda: control.cancel(timed_out=True))
    timer.daemon = True
    timer.start()
    return timer


class DuckDBEngine:
    """DuckDB embedded: one in-memory database per engine, the lake's tables as views over read_parquet."""

    name = "duckdb"

    def __init__(self, lake_dir: Path, *, threads: int | None = None) -> None:
        import duckdb

        self.lake_dir = Path(lake_dir)
        self._duckdb = duckdb
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        # the second line of defence behind the SQL guard: no file outside the lake and no extension; once off,
        # external access cannot be turned back on, nor the allowed directories changed, while the database runs
        root = str(self.lake_dir.resolve()).replace("'", "''")
        self.con.execute(f"SET allowed_directories = ['{root}/']")
        self.con.execute("SET enable_external_access = false")

    def refresh(self, cur: Any, tables: Mapping[str, pa.Table] | None = None) -> None:
        """Define each lake table (and each given table) as a temporary view of this cursor."""
        cur.execute("SET TimeZone = 'UTC'")  # a session setting: each cursor is a session
        for name, table in (tables or {}).items():
            cur.register(name, table)
        for t in lake.TABLES:
            files = lake.table_files(self.lake_dir, t)
            if not files:
                cur.register(f"_empty_{t.name}", lake.empty(t))
                cur.execute(f'CREATE OR REPLACE TEMP VIEW "{t.name}" AS SELECT * FROM "_empty_{t.name}"')
                continue
            listing = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
            if t.partitioned:
                source = f"read_parquet({listing}, hive_partitioning = true, hive_types = {{'day': DATE}})"
            else:
                source = f"read_parquet({listing})"
            cols = ", ".join(f'"{n}"' for n in t.schema.names)
            cur.execute(f'CREATE OR REPLACE TEMP VIEW "{t.name}" AS SELECT {cols} FROM {source}')

    def query(self, sql: str, *, max_rows: int, timeout_s: float, control: QueryControl | None = None,
              tables: Mapping[str, pa.Table] | None = None) -> Result:
        """Run on a cursor of its own (see `Engine.query`)."""
        control = control or QueryControl()
        started = time.monotonic()
        cur = self.con.cursor()  # a connection of its own: temporary views, interrupt and progress are its own
        try:
            self.refresh(cur, tables)
            control.attach(cur.interrupt, lambda: _duck_progress(cur))
            timer = _timer(control, timeout_s)
            try:
                if control.cancelled:
                    raise QueryCancelled(control.timed_out)
                table = _arrow(cur.sql(limited(sql, max_rows)))
            except self._duckdb.InterruptException as exc:
                raise QueryCancelled(control.timed_out) from exc
            except self._duckdb.Error as exc:
                if control.cancelled:
                    raise QueryCancelled(control.timed_out) from exc
                raise ValidationFailed(_("The query failed: {error}").format(
                    error=str(exc).splitlines()[0][:300]), field="sql") from exc
            finally:
                timer.cancel()
                control.detach()
        finally:
            cur.close()
        return _finish(table, max_rows, self.name, started)

    def close(self) -> None:
        """Close the in-memory database."""
        self.con.close()


def _arrow(rel: Any) -> pa.Table:
    """The relation's rows as an Arrow table (DuckDB 2 renamed fetch_arrow_table to to_arrow_table)."""
    fetch = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table
    return fetch()


def _duck_progress(cur: Any) -> float | None:
    p = float(cur.query_progress())
    return None if p < 0 else min(p / 100.0, 1.0)


_spark_lock = threading.Lock()


def spark_session(master: str) -> Any:
    """The process's SparkSession (created once: a JVM start is seconds), UTC, small shuffles, no UI."""
    from pyspark.sql import SparkSession

    with _spark_lock:
        return (SparkSession.builder.master(master).appName("cityhub-analytics")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.sql.shuffle.partitions", "8")
                .config("spark.sql.ansi.enabled", "false")
                .getOrCreate())


class SparkEngine:
    """Apache Spark (PySpark): the lake's tables as temporary views; the DuckDB-dialect SQL transpiled by sqlglot."""

    name = "spark"

    def __init__(self, lake_dir: Path, *, master: str = "local[*]", session: Any = None) -> None:
        self.lake_dir = Path(lake_dir)
        self.spark = session if session is not None else spark_session(master)

    def refresh(self, tables: Mapping[str, pa.Table] | None = None) -> None:
        """(Re)define each lake table (and each given table) as a temporary view over the files there now."""
        for name, table in (tables or {}).items():
            self.spark.createDataFrame(table).createOrReplaceTempView(self.view_name(name))
        for t in lake.TABLES:
            files = lake.table_files(self.lake_dir, t)
            if not files:
                df = self.spark.createDataFrame(lake.empty(t))
            elif t.partitioned:
                root = str(self.lake_dir / t.path)
                df = self.spark.read.option("basePath", root).parquet(*[str(f) for f in files])
            else:
                df = self.spark.read.parquet(*[str(f) for f in files])
            df.select(*t.schema.names).createOrReplaceTempView(t.name)

    @staticmethod
    def view_name(name: str) -> str:
        """The Spark view a given table is registered as: its own name when Spark takes it, else `t_<digest>`.

        A saved analysis names a datastore resource by its id, and Spark refuses a view name with a uuid's hyphens
        (quoted or not), so those tables get a plain name and the statement is rewritten to it (`dialect`).
        """
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            return name
        return "t_" + hashlib.sha256(name.encode()).hexdigest()[:24]

    @classmethod
    def dialect(cls, sql: str, tables: Mapping[str, Any] | None = None) -> str:
        """The statement in Spark SQL (written in DuckDB's dialect), the given tables under their view names."""
        try:
            tree = sqlglot.parse_one(sql, read="duckdb")
            for node in tree.find_all(exp.Table) if tables else ():
                if not node.db and node.name in tables:  # type: ignore[operator]  # tables is set here
                    node.set("this", exp.to_identifier(cls.view_name(node.name)))
            return tree.sql(dialect="spark")
        except sqlglot.errors.SqlglotError as exc:
            raise ValidationFailed(_("Not valid SQL: {error}").format(error=str(exc).splitlines()[0][:200]),
                                   field="sql") from exc

    def query(self, sql: str, *, max_rows: int, timeout_s: float, control: QueryControl | None = None,
              tables: Mapping[str, pa.Table] | None = None) -> Result:
        """Run as a job group of its own, cancelled with it (see `Engine.query`)."""
        control = control or QueryControl()
        started = time.monotonic()
        sc = self.spark.sparkContext
        group = f"cityhub-{uuid.uuid4().hex}"
        statement = self.dialect(limited(sql, max_rows), tables)
        sc.setJobGroup(group, "cityhub analytics query", interruptOnCancel=True)
        ended = threading.Event()

        def cancel_group() -> None:
            # cancelJobGroup stops only the jobs already submitted: a cancel that comes while the query is still
            # being planned (a loaded machine) would miss the job submitted after it, so keep cancelling until the
            # query returns
            def loop() -> None:
                while not ended.is_set():
                    sc.cancelJobGroup(group)
                    ended.wait(0.5)
            threading.Thread(target=loop, name=f"{group}-cancel", daemon=True).start()

        control.attach(cancel_group, lambda: _spark_progress(sc, group))
        timer = _timer(control, timeout_s)
        try:
            if control.cancelled:
                raise QueryCancelled(control.timed_out)
            self.refresh(tables)
            table = self.spark.sql(statement).toArrow()
            if control.cancelled:  # finished after all, past the limit or after a cancel: not an answer to give
                raise QueryCancelled(control.timed_out)
        except QueryCancelled:
            raise
        except Exception as exc:  # py4j / AnalysisException / cancelled job
            if control.cancelled:
                raise QueryCancelled(control.timed_out) from exc
            message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise ValidationFailed(_("The query failed: {error}").format(error=message), field="sql") from exc
        finally:
            ended.set()
            timer.cancel()
            control.detach()
            sc.setLocalProperty("spark.jobGroup.id", None)
        return _finish(table, max_rows, self.name, started)

    def close(self) -> None:
        """The session is the process's and outlives one engine (see `spark_session`)."""


def _spark_progress(sc: Any, group: str) -> float | None:
    tracker = sc.statusTracker()
    done = total = 0
    for job_id in tracker.getJobIdsForGroup(group):
        job = tracker.getJobInfo(job_id)
        for stage_id in job.stageIds if job else []:
            stage = tracker.getStageInfo(stage_id)
            if stage:
                done += stage.numCompletedTasks
                total += stage.numTasks
    return None if total == 0 else done / total


def engine_for(name: str, lake_dir: Path, *, spark_master: str = "local[*]") -> Engine:
    """The configured backend (`CITYHUB_ENGINE`, `CITYHUB_SPARK_MASTER`)."""
    if name == "spark":
        return SparkEngine(lake_dir, master=spark_master)
    if name == "duckdb":
        return DuckDBEngine(lake_dir)
    raise ValueError(f"unknown analytics engine {name!r}")
