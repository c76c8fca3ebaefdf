"""Analysis runs as jobs: a small thread pool per process, the answer and end state as files.

`start` submits the checked statement and the caller's tables to the pool (or runs it at once with `wait`); the
running job's `QueryControl` gives progress and cancel. When it ends the answer goes to
`<var_dir>/analytics/runs/<id>.parquet` and its end state to `<id>.json` (written last, by rename): a run with no
JSON file and no job in this process was lost (its process stopped) and reads as failed.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cityhub.compute.analytics.engines import QueryCancelled, QueryControl
from cityhub.kit import clock, safejson
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.settings import get_settings

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cityhub-analysis")
_running: dict[uuid.UUID, QueryControl] = {}
_lock = threading.Lock()


def runs_dir() -> Path:
    """Where run answers and end states are kept."""
    return get_settings().var_dir / "analytics" / "runs"


def _write_state(run_id: uuid.UUID, state: dict[str, Any]) -> None:
    path = runs_dir() / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def _execute(run_id: uuid.UUID, statement: str, tables: dict[str, pa.Table], control: QueryControl,
             max_rows: int, timeout_s: float) -> None:
    from cityhub.compute.analytics.service import engine

    state: dict[str, Any] = {"status": "failed", "error": None, "rows": None, "truncated": False}
    eng = None
    try:
        eng = engine()
        result = eng.query(statement, max_rows=max_rows, timeout_s=timeout_s, control=control, tables=tables)
        out = runs_dir() / f"{run_id}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(result.table, out)
        state.update(status="succeeded", rows=result.table.num_rows, truncated=result.truncated)
    except QueryCancelled as exc:
        state["status"] = "timed_out" if exc.timed_out else "cancelled"
    except ValidationFailed as exc:
        state["error"] = exc.message
    except Exception as exc:  # the job must end with a state a person can read, whatever broke
        state["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        if eng is not None:
            eng.close()
        state["finished_at"] = clock.now().isoformat()
        _write_state(run_id, state)
        with _lock:
            _running.pop(run_id, None)


def start(run_id: uuid.UUID, statement: str, tables: dict[str, pa.Table], *, max_rows: int, timeout_s: float,
          wait: bool = False) -> None:
    """Run the statement as a job (`wait`: in this thread, before returning)."""
    control = QueryControl()
    with _lock:
        _running[run_id] = control
    if wait:
        _execute(run_id, statement, tables, control, max_rows, timeout_s)
    else:
        _pool.submit(_execute, run_id, statement, tables, control, max_rows, timeout_s)


def state(run_id: uuid.UUID) -> dict[str, Any]:
    """Running (with progress), or the end state from its file; `lost` when neither exists."""
    with _lock:
        control = _running.get(run_id)
    if control is not None:
        return {"status": "running", "progress": control.progress()}
    path = runs_dir() / f"{run_id}.json"
    if path.exists():
        saved = safejson.loads(path.read_bytes())
        saved["finished_at"] = datetime.fromisoformat(saved["finished_at"]) if saved.get("finished_at") else None
        return dict(saved)
    return {"status": "failed", "error": "The run was lost (its server process stopped)"}


def cancel(run_id: uuid.UUID) -> bool:
    """Cancel a running job of this process; False when it is not running here."""
    with _lock:
        control = _running.get(run_id)
    if control is None:
        return False
    control.cancel()
    return True


def result(run_id: uuid.UUID) -> pa.Table | None:
    """A finished run's answer (None while it runs, or when it failed)."""
    if state(run_id).get("status") != "succeeded":
        return None
    path = runs_dir() / f"{run_id}.parquet"
    return pq.read_table(path) if path.exists() else None


def result_bytes(run_id: uuid.UUID) -> bytes | None:
    """A finished run's answer as its Parquet file's bytes (None while it runs, or when it failed)."""
    if state(run_id).get("status") != "succeeded":
        return None
    path = runs_dir() / f"{run_id}.parquet"
    return path.read_bytes() if path.exists() else None


def plain(v: Any) -> Any:
    """A value as JSON carries it."""
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return None
    return v


def csv_bytes(table: pa.Table) -> bytes:
    """The answer as UTF-8 CSV with a BOM (spreadsheets open Chinese text right); formulas are not started."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(table.column_names)
    cols = [c.to_pylist() for c in table.columns]
    for row in zip(*cols, strict=True):
        w.writerow([_cell(plain(v)) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _cell(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v  # CSV injection: a cell is never a formula when opened in a spreadsheet
    return v

