"""Analytics: the configured engine over the Parquet lake, the built-in queries, the facts export.

`engine()` picks the backend from `CITYHUB_ENGINE` (duckdb by default, spark with `CITYHUB_SPARK_MASTER`) over
`<var_dir>/lake`; `run_builtin` renders a built-in query and runs it under the row and time limits;
`lake_export` writes the device registry and the ops facts beside connect's telemetry archive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cityhub.compute import policies
from cityhub.compute.analytics import lake, queries
from cityhub.compute.analytics.engines import (
    DuckDBEngine,
    Engine,
    QueryCancelled,
    QueryControl,
    Result,
    SparkEngine,
    engine_for,
)
from cityhub.core.actor import Actor
from cityhub.kit.settings import get_settings

__all__ = ["DuckDBEngine", "Engine", "QueryCancelled", "QueryControl", "Result", "SparkEngine", "engine",
           "lake_export", "run_builtin"]

DEFAULT_MAX_ROWS = 10_000
DEFAULT_TIMEOUT_S = 60.0


def engine(lake_dir: Path | None = None) -> Engine:
    """The configured analytics engine over the lake (the caller closes it)."""
    s = get_settings()
    return engine_for(s.engine, lake_dir or s.lake_dir, spark_master=s.spark_master)


def run_builtin(eng: Engine, name: str, params: dict[str, Any] | None = None, *, max_rows: int = DEFAULT_MAX_ROWS,
                timeout_s: float = DEFAULT_TIMEOUT_S, control: QueryControl | None = None) -> Result:
    """Run one built-in query (422 naming `query` or the parameter at fault)."""
    sql = queries.builtin(name).render(params)
    return eng.query(sql, max_rows=max_rows, timeout_s=timeout_s, control=control)


def lake_export(session: Session, actor: Actor, lake_dir: Path | None = None) -> dict[str, int]:
    """Export the device registry and ops facts as Parquet (platform admins and the system); rows per table."""
    policies.analytics_lake_export(actor)
    return lake.export_facts(session, lake_dir or get_settings().lake_dir)
