"""One run of a sync job: source batches → converted, validated rows → upserted by the key into the datastore table.

The invariant: a run writes all of its good rows or none (everything after the run row is one savepoint; a source
failure rolls it back and records the run as failed), a bad row is rejected with its row number, column and reason
and never half-written (rows are converted completely before any is written), and the watermark moves only with
the rows it covers, so a re-run after a failure reads the same rows again and upserting makes it idempotent.

Each batch is staged in a temporary table (PostgreSQL: COPY; SQLite: `executemany`) and merged with one
`INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE distinct` that reports inserted and changed rows. A watcher (the
quality checks' run delta) sees the batch's rows in the table just before and just after the merge.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityhub.data.collection import columnar
from cityhub.data.collection import connectors as c
from cityhub.data.collection.rows import _convert_bad, _convert_batch, _converter
from cityhub.data.datastore.stores import _PG_TYPES as PG_TYPES
from cityhub.data.datastore.stores import create_table, fernet, quote, sqlite_value
from cityhub.data.models import CatalogEntry, Resource, SyncJob, SyncRun, SyncSource, drop_folder
from cityhub.kit import clock
from cityhub.kit.db import is_postgres

BACKOFF_S = (60, 120, 300, 900, 1800, 3600)  # after 1, 2, … consecutive failures
FILLFACTOR = 90  # a synced table's pages keep a tenth free for updates in place (docs/data-collection.md)

Progress = Callable[[int], None]


def credentials(source: SyncSource) -> dict[str, Any]:
    """A source's decrypted secret part: {"password": …} or {"headers": {…}} (server-side only)."""
    if not source.credentials_enc:
        return {}
    return c.load_json_object(fernet().decrypt(source.credentials_enc.encode()).decode())


def encrypt(secret: dict[str, Any]) -> str:
    """Encrypt a source's secret part with the data domain's credentials key (stores.fernet)."""
    return fernet().encrypt(json.dumps(secret).encode()).decode() if secret else ""


def next_run(job: SyncJob, failed: bool) -> Any:
    """When the scheduler runs the job next: the cron's next time, or sooner with backoff after a failure."""
    if not job.schedule or not job.enabled:
        return None
    from croniter import croniter

    now = clock.now()
    nxt = croniter(job.schedule, now).get_next(type(now))
    if failed:
        retry = now + timedelta(seconds=BACKOFF_S[min(job.failures, len(BACKOFF_S)) - 1])
        nxt = min(nxt, retry)
    return nxt


def target_table(session: Session, entry: CatalogEntry) -> Resource:
    """The entry's table resource, made (empty) on the first sync."""
    res = session.scalar(select(Resource).where(Resource.entry_id == entry.id, Resource.kind == "table")
                         .order_by(Resource.created_at))
    if res is None:
        res = Resource(entry_id=entry.id, kind="table", title=entry.title)
        session.add(res)
        session.flush()
    if not res.table_name:
        table = f"ds_{res.id.hex}"
        create_table(session, table, list(entry.items))
        res.table_name, res.columns = table, [it["name_en"] for it in entry.items]
        session.flush()
    return res


def _key_index(table: str, key: list[str]) -> str:
    return "uq_" + hashlib.sha1(f"{table}.{','.join(key)}".encode()).hexdigest()[:20]


def _ensure_key_index(session: Session, table: str, key: list[str]) -> None:
    name = _key_index(table, key)
    session.execute(text(f"CREATE UNIQUE INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} "
                         f"({', '.join(quote(k) for k in key)})"))


def _rows(session: Session, source: SyncSource, job: SyncJob, mark: Any,
          files_out: list[tuple[int, str]]) -> Iterator[list[c.SourceRow]]:
    secret = credentials(source)
    cursor = job.cursor_column if job.mode == "incremental" else ""
    if source.kind == "database":
        return c.read_database(source.url, str(secret.get("password", "")), job.query, cursor, mark,
                               job.batch_size)
    if source.kind == "http":
        return c.read_http(source.url, dict(secret.get("headers", {})), dict(source.options), cursor, mark,
                           job.batch_size)
    fmt = str(source.options.get("format", "csv"))
    folder = drop_folder(source.id)
    after = None
    if job.mode == "incremental" and job.watermark and job.watermark.get("type") == "files":
        after = (int(job.watermark["value"][0]), str(job.watermark["value"][1]))
    files_out.extend(c.drop_files(folder, fmt, after))
    return c.read_files(folder, fmt, files_out, "", None, job.batch_size)


# the PostgreSQL type each information item's converted value is sent as in a binary COPY (datastore.stores)
_COPY_TYPES = {"C": "text", "M": "text", "G": "text", "N": "numeric", "Y": "numeric", "I": "int8", "B": "float8",
               "F": "float8", "D": "date", "T": "timestamptz", "L": "bool"}


class StageWatcher(Protocol):
    """Told about each batch around its merge: `before` and `after` see the same staged rows (quality deltas)."""

    @property
    def active(self) -> bool:
        """Whether it looks at batches at all (an idle watcher lets a first load go straight into the table)."""

    @property
    def rows(self) -> int | None:
        """The table's row count before the run, when the watcher counted it (spares the run a count)."""

    def before(self, stage: str) -> None:
        """The staged batch is in `stage`; the table still holds the rows it will replace."""

    def after(self, stage: str) -> None:
        """The staged batch has been merged into the table."""


class _Writer:
    """Upserts converted rows into the datastore table by the job's key; counts inserted and changed rows.

    Each batch is staged in a temporary table of the datastore table's shape (COPY on PostgreSQL, `executemany`
    on SQLite) and merged with one `INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE distinct`, so a watcher can
    look at exactly the batch's rows in the table before and after the merge.
    """

    def __init__(self, session: Session, table: str, items: list[dict[str, Any]], key: list[str],
                 watcher: StageWatcher | None = None, bulk: bool = False) -> None:
        self.session, self.table, self.items, self.key, self.watcher = session, table, items, key, watcher
        self.pg = is_postgres(session)
        self.bulk = bulk and self.pg and (watcher is None or not watcher.active) and not session.scalar(
            text(f"SELECT EXISTS (SELECT 1 FROM {quote(table)})"))
        if self.bulk:  # an empty table: rows are COPYed straight in, the key index is built once at the end
            session.execute(text(f"DROP INDEX IF EXISTS {quote(_key_index(table, key))}"))
            # room on every page for the next syncs' updates: HOT (no index entries, no index pages to write)
            session.execute(text(f"ALTER TABLE {quote(table)} SET (fillfactor = {FILLFACTOR})"))
        self.cols = [it["name_en"] for it in items]
        self.next_id = int(session.scalar(text(f'SELECT COALESCE(MAX("_id"), 0) FROM {quote(table)}')) or 0) + 1
        non_key = [col for col in self.cols if col not in key]
        qk = ", ".join(quote(k) for k in key)
        if non_key:
            sets = ", ".join(f"{quote(col)} = excluded.{quote(col)}" for col in non_key)
            same = "IS DISTINCT FROM" if self.pg else "IS NOT"
            differ = " OR ".join(f"{quote(table)}.{quote(col)} {same} excluded.{quote(col)}" for col in non_key)
            conflict = f"ON CONFLICT ({qk}) DO UPDATE SET {sets} WHERE {differ}"
        else:
            conflict = f"ON CONFLICT ({qk}) DO NOTHING"
        self.all_cols = ", ".join(quote(col) for col in ["_id", *self.cols])
        self.copy_types = ["int8", *(_COPY_TYPES[it["data_type"]] for it in items)]
        self.stage = f"sync_stage_{uuid.uuid4().hex[:12]}"
        session.execute(text(f"CREATE TEMP TABLE {quote(self.stage)} AS SELECT * FROM {quote(table)} WHERE 1 = 0"))
        if self.pg:
            self.merge = text(
                f"WITH m AS (INSERT INTO {quote(table)} ({self.all_cols}) SELECT {self.all_cols} "
                f"FROM {quote(self.stage)} {conflict} RETURNING (xmax = 0) AS ins) "
                "SELECT COUNT(*) FILTER (WHERE ins), COUNT(*) FILTER (WHERE NOT ins) FROM m")
        else:  # `WHERE true` keeps SQLite from reading ON as a join's
            self.merge = text(f"INSERT INTO {quote(table)} ({self.all_cols}) SELECT {self.all_cols} "
                              f"FROM {quote(self.stage)} WHERE true {conflict}")
            marks = ", ".join(f":p{i}" for i in range(len(self.cols) + 1))
            self.fill = text(f"INSERT INTO {quote(self.stage)} ({self.all_cols}) VALUES ({marks})")
            on = " AND ".join(f"s.{quote(k)} = t.{quote(k)}" for k in key)
            self.existing = text(f"SELECT COUNT(*) FROM {quote(self.stage)} AS s JOIN {quote(table)} AS t ON {on}")

    def write(self, rows: list[list[Any]]) -> tuple[int, int]:
        """Upsert one batch (keys unique within it); (inserted, updated)."""
        if not rows:
            return 0, 0
        base = self.next_id
        self.next_id += len(rows)
        if self.pg:
            raw = self.session.connection().connection.driver_connection
            if not self.bulk:
                self.session.execute(text(f"TRUNCATE {quote(self.stage)}"))
            with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]  # psycopg 3 connection
                    f"COPY {quote(self.table if self.bulk else self.stage)} ({self.all_cols}) FROM STDIN "
                    "(FORMAT BINARY)") as cp:
                cp.set_types(self.copy_types)  # binary: no text rendering and parsing of dates and numbers
                for i, r in enumerate(rows):
                    cp.write_row([base + i, *r])
            if self.bulk:
                return len(rows), 0
        else:
            self.session.execute(text(f"DELETE FROM {quote(self.stage)}"))
            self.session.execute(self.fill, [{f"p{i}": v for i, v in enumerate(
                [base + n, *(sqlite_value(it, x) for it, x in zip(self.items, r, strict=True))])}
                for n, r in enumerate(rows)])
        if self.watcher is not None:
            self.watcher.before(self.stage)
        if self.pg:
            ins, upd = (int(v) for v in self.session.execute(self.merge).one())
        else:
            existing = int(self.session.scalar(self.existing) or 0)
            changed = int(self.session.execute(self.merge).rowcount)  # type: ignore[attr-defined]  # CursorResult
            ins = len(rows) - existing
            upd = max(0, changed - ins)
        if self.watcher is not None:
            self.watcher.after(self.stage)
        return ins, upd

    def merge_stage(self) -> tuple[int, int]:
        """Merge what the set-based path put in the stage (keys may repeat: the largest `_id` wins)."""
        on = " AND ".join(f"a.{quote(k)} = b.{quote(k)}" for k in self.key)
        self.session.execute(text(f'DELETE FROM {quote(self.stage)} AS a USING {quote(self.stage)} AS b '
                                  f'WHERE {on} AND a."_id" < b."_id"'))
        if self.watcher is not None:
            self.watcher.before(self.stage)
        ins, upd = (int(v) for v in self.session.execute(self.merge).one())
        if self.watcher is not None:
            self.watcher.after(self.stage)
        return ins, upd

    def copy_rows(self, rows: list[list[Any]]) -> None:
        """Binary COPY of rows that carry their own `_id` into the set-based path's target (table or stage)."""
        raw = self.session.connection().connection.driver_connection
        with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]  # psycopg 3 connection
                f"COPY {quote(self.table if self.bulk else self.stage)} ({self.all_cols}) FROM STDIN "
                "(FORMAT BINARY)") as cp:
            cp.set_types(self.copy_types)
            for r in rows:
                cp.write_row(r)

    def finish(self) -> tuple[int, int]:
        """End a bulk load: a key written twice keeps its last row, then the key index is built.

        The index is built first, in a savepoint: a load without repeated keys (the usual case) is done then; only
        when the build finds a repeated key are the earlier rows of such keys deleted (a self-join over the whole
        table) and the index built again. No ANALYZE: the index build records the table's size and autovacuum
        analyses it after the commit. Returns (inserted, updated) to add to the batches' counts: a superseded row
        counts as an update.
        """
        if not self.bulk:
            return 0, 0
        attempt = self.session.begin_nested()
        try:
            _ensure_key_index(self.session, self.table, self.key)
        except IntegrityError:  # a key repeats
            attempt.rollback()
        else:
            attempt.commit()
            return 0, 0
        on = " AND ".join(f"a.{quote(k)} = b.{quote(k)}" for k in self.key)
        gone = int(self.session.execute(text(  # type: ignore[attr-defined]  # CursorResult
            f'DELETE FROM {quote(self.table)} AS a USING {quote(self.table)} AS b WHERE {on} AND a."_id" < b."_id"'
        )).rowcount)
        _ensure_key_index(self.session, self.table, self.key)
        return -gone, gone

    def close(self) -> None:
        """Drop the staging table."""
        self.session.execute(text(f"DROP TABLE IF EXISTS {quote(self.stage)}"))


def execute(session: Session, job: SyncJob, source: SyncSource, entry: CatalogEntry, run: SyncRun,
            progress: Progress | None = None, watcher: StageWatcher | None = None) -> None:
    """Run the job into `run` (counts, rejects, status, error, watermark); raises nothing for source errors."""
    t0 = time.monotonic()
    items = [it for it in entry.items if it["name_en"] in job.mapping]
    mark = c.decode_mark(job.watermark) if job.mode == "incremental" and source.kind != "files" else None
    run.watermark_from = job.watermark
    new_mark: Any = mark
    files: list[tuple[int, str]] = []
    sp = session.begin_nested()
    try:
        res = target_table(session, entry)
        assert res.table_name is not None  # made by target_table
        _ensure_key_index(session, res.table_name, list(job.key))
        writer = _Writer(session, res.table_name, items, list(job.key), watcher, bulk=True)
        plan = _columnar_plan(source, job, mark, items, files) if writer.pg else None
        if plan is not None:
            inner = session.begin_nested()
            try:
                if isinstance(plan, columnar.DatabaseLoad):
                    ins, upd = _load_pushed(session, plan, writer, items, job, run)
                    new_mark = plan.mark if plan.mark is not None else new_mark
                else:
                    ins, upd = _load_columnar(session, plan, writer, items, job, run)
                run.rows_inserted, run.rows_updated = ins, upd
                inner.commit()
                if progress is not None:
                    progress(run.rows_read)
            except columnar.Unsupported:  # read again on the row path, from the start
                inner.rollback()
                run.rows_read = run.rows_rejected = run.rows_inserted = run.rows_updated = 0
                run.rejects = []
                files.clear()
                plan = None
        for batch in (_rows(session, source, job, mark, files) if plan is None else ()):
            run.rows_read += len(batch)
            if job.mode == "incremental" and job.cursor_column and source.kind != "files":
                # a database reads in cursor order: its batch's last non-null cursor is its largest
                for sr in reversed(batch) if source.kind == "database" else batch:
                    v = sr.values.get(job.cursor_column)
                    if v is not None and (new_mark is None or c.after_mark(v, new_mark)):
                        new_mark = v
                        if source.kind == "database":
                            break
            ins, upd = writer.write(_convert_batch(batch, items, job.mapping, list(job.key), run))
            run.rows_inserted += ins
            run.rows_updated += upd
            if progress is not None:
                progress(len(batch))
        ins, upd = writer.finish()
        run.rows_inserted += ins
        run.rows_updated += upd
        writer.close()
        before = 0 if writer.bulk else watcher.rows if watcher is not None else None  # no deletes: before + new
        res.row_count = before + run.rows_inserted if before is not None else int(
            session.scalar(text(f"SELECT COUNT(*) FROM {quote(res.table_name)}")) or 0)
        res.loaded_at = clock.now()
        session.flush()
        sp.commit()
    except Exception as exc:  # a failing source fails its run, never the caller or other jobs
        kept = run.rows_read, run.rows_rejected, list(run.rejects)
        sp.rollback()  # expires what the savepoint changed: the run's counts are put back by hand
        run.rows_read, run.rows_rejected, run.rejects = kept
        run.status, run.error = "failed", c.describe(exc)
        run.rows_inserted = run.rows_updated = 0
    else:
        run.status = "succeeded"
        if job.mode == "incremental":
            if source.kind == "files":
                job.watermark = {"type": "files", "value": list(files[-1])} if files else job.watermark
            else:
                job.watermark = c.encode_mark(new_mark) if new_mark is not None else job.watermark
        run.watermark_to = job.watermark
    run.finished_at = clock.now()
    run.duration_ms = int((time.monotonic() - t0) * 1000)
    job.failures = job.failures + 1 if run.status == "failed" else 0
    job.last_status, job.last_run_at = run.status, run.finished_at
    job.next_run_at = next_run(job, run.status == "failed")
    session.flush()


def _columnar_plan(source: SyncSource, job: SyncJob, mark: Any, items: list[dict[str, Any]],
                   files_out: list[tuple[int, str]]) -> columnar.Plan | columnar.DatabaseLoad | None:
    """The set-based reading of a full load or a PostgreSQL source's incremental run, or None for the row path."""
    if not columnar.ENABLED:
        return None
    sources = list(dict.fromkeys(job.mapping[it["name_en"]] for it in items))
    try:
        if source.kind == "database" and source.url.startswith("postgresql"):
            cursor = job.cursor_column if job.mode == "incremental" else ""
            return columnar.DatabaseLoad(source.url, str(credentials(source).get("password", "")), job.query,
                                         cursor, items, dict(job.mapping), list(job.key), mark if cursor else None)
        if source.kind == "files" and source.options.get("format", "csv") == "csv" and mark is None:
            after = None
            if job.mode == "incremental" and job.watermark and job.watermark.get("type") == "files":
                after = (int(job.watermark["value"][0]), str(job.watermark["value"][1]))
            folder = drop_folder(source.id)
            files = c.drop_files(folder, "csv", after)
            files_out.extend(files)
            return columnar.file_plan(folder, files, sources)
    except columnar.Unsupported:
        return None
    return None


def _load_pushed(session: Session, load: columnar.DatabaseLoad, writer: _Writer, items: list[dict[str, Any]],
                 job: SyncJob, run: SyncRun) -> tuple[int, int]:
    """A PostgreSQL source converted in its own query and COPYed straight in; the other rows through `convert`."""
    base = writer.next_id
    dest = writer.table if writer.bulk else writer.stage
    if not writer.bulk:
        session.execute(text(f"TRUNCATE {quote(writer.stage)}"))
    plan_rows = [(it["name_en"], job.mapping.get(it["name_en"]), _converter(it), it["name_en"] in job.key)
                 for it in items]
    raw = session.connection().connection.driver_connection
    try:
        load.open()
        with raw.cursor() as cur:  # type: ignore[union-attr]  # psycopg 3 connection
            with cur.copy(f"COPY {quote(dest)} ({writer.all_cols}) FROM STDIN (FORMAT csv)") as cp:
                load.relay(cp, base)
            good = max(cur.rowcount, 0)
        for chunk in load.bad_rows():
            rows = _convert_bad([(base + sr.row, sr) for sr in chunk], plan_rows, run)
            writer.copy_rows(rows)
            good += len(rows)
    finally:
        load.close()
    run.rows_read = good + run.rows_rejected
    writer.next_id = base + run.rows_read + 1  # row numbers run from 1 to the rows read
    if writer.bulk:
        return good, 0
    return writer.merge_stage()


def _load_columnar(session: Session, plan: columnar.Plan, writer: _Writer, items: list[dict[str, Any]],
                   job: SyncJob, run: SyncRun) -> tuple[int, int]:
    """Stage the source's text, convert and check it in one INSERT … SELECT; other rows go through `convert`."""
    key = list(job.key)
    raw_table = f"sync_raw_{uuid.uuid4().hex[:12]}"
    cols = [f"c{i}" for i in range(len(plan.columns))]
    # byte order ("C"): the checks compare digit strings, which need no locale (strcoll made them 2× slower)
    C = '"C"'
    session.execute(text(f'CREATE TEMP TABLE "{raw_table}" ("_n" bigint GENERATED BY DEFAULT AS IDENTITY, '
                         f'"_row" bigint, "_file" int{"".join(f", {col} text COLLATE {C}" for col in cols)})'))
    raw = session.connection().connection.driver_connection
    into = (["_row", "_file"] if plan.numbered else []) + cols
    with raw.cursor() as cur:  # type: ignore[union-attr]  # psycopg 3 connection
        if plan.copy_files:
            columnar.copy_files(cur, raw_table, cols, plan.copy_files)
        else:
            with cur.copy(f'COPY "{raw_table}" ({", ".join(into)}) FROM STDIN (FORMAT csv)') as cp:
                plan.fill(cp)
        n, top = cur.execute(f'SELECT count(*), coalesce(max("_n"), 0) FROM "{raw_table}"').fetchone() or (0, 0)
    run.rows_read = int(n)
    pos = {src: i for i, src in enumerate(plan.columns)}
    sources = [pos.get(job.mapping.get(it["name_en"], "")) for it in items]
    conv = columnar.convert_sql(items, [None if p is None else f"c{p}" for p in sources], key)
    trimmed = "".join(f", btrim(c{p}, E' \\t\\n\\r\\f\\v') AS t{i}" for i, p in enumerate(sources)
                      if p is not None)
    oks = "".join(f", {ok} AS o{i}" for i, (ok, _v) in enumerate(conv))
    values = ", ".join(f"CASE WHEN o{i} THEN {v} END AS v{i}" for i, (_ok, v) in enumerate(conv))
    row_ok = " AND ".join(f"o{i}" for i in range(len(conv))) or "true"
    base = writer.next_id
    writer.next_id += int(top) + 1
    dest = writer.table if writer.bulk else writer.stage
    if not writer.bulk:
        session.execute(text(f"TRUNCATE {quote(writer.stage)}"))
    bad = f"{raw_table}_bad"
    cs = "".join(f", {col}" for col in cols)
    with raw.cursor() as cur:  # type: ignore[union-attr]  # psycopg 3 connection
        cur.execute(f'CREATE TEMP TABLE "{bad}" AS SELECT "_n", "_row", "_file"{cs} FROM "{raw_table}" WHERE false')
        # one pass: the checks are evaluated once, good rows go to the target, the others aside for `convert`
        cur.execute(
            f'WITH s AS (SELECT "_n", coalesce("_row", "_n") AS "_row", "_file"{cs}, {row_ok} AS ok, {values} '
            f'FROM (SELECT *{oks} FROM (SELECT *{trimmed} FROM "{raw_table}" OFFSET 0) AS r1 OFFSET 0) AS r2), '
            f'ins AS (INSERT INTO {quote(dest)} ({writer.all_cols}) SELECT {base} + "_n", '
            f'{", ".join(f"v{i}" for i in range(len(conv)))} FROM s WHERE ok) '
            f'INSERT INTO "{bad}" SELECT "_n", "_row", "_file"{cs} FROM s WHERE NOT ok')
        good = int(n) - cur.rowcount
        cur.execute(f'DROP TABLE "{raw_table}"')
    plan_rows = [(it["name_en"], job.mapping.get(it["name_en"]), _converter(it), it["name_en"] in key)
                 for it in items]
    last = -1
    while True:  # the rows the SQL checks did not pass, through `convert`, in chunks
        chunk = session.execute(text(
            f'SELECT "_n", "_row", "_file", {", ".join(cols) or "NULL"} FROM "{bad}" '
            f'WHERE "_n" > :last ORDER BY "_n" LIMIT 5000'), {"last": last}).all()
        if not chunk:
            break
        last = int(chunk[-1][0])
        rows = _convert_bad([(base + int(r[0]), c.SourceRow(int(r[1]), dict(zip(plan.columns, r[3:], strict=False)),
                                                              plan.files[r[2]] if r[2] is not None else ""))
                             for r in chunk], plan_rows, run)
        writer.copy_rows(rows)
        good += len(rows)
    session.execute(text(f'DROP TABLE "{bad}"'))
    if writer.bulk:
        return good, 0
    return writer.merge_stage()


def key_columns(session: Session, table: str) -> list[str]:
    """The columns of the datastore table's unique key (made by a sync job or `datastore_create`), in order."""
    if is_postgres(session):
        rows = session.execute(text(
            "SELECT a.attname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
            "JOIN pg_class ic ON ic.oid = i.indexrelid "
            "WHERE t.relname = :t AND i.indisunique AND NOT i.indisprimary AND ic.relname LIKE 'uq\\_%' "
            "ORDER BY ic.relname, k.n"), {"t": table}).all()
        return [str(r[0]) for r in rows]
    for idx in session.execute(text(f"PRAGMA index_list({quote(table)})")).all():
        if int(idx[2]) == 1 and str(idx[1]).startswith("uq_"):
            return [str(c[2]) for c in session.execute(text(f"PRAGMA index_info({quote(str(idx[1]))})"))]
    return []


def ensure_key(session: Session, table: str, key: list[str]) -> None:
    """Make the table's unique key (refused by the database when rows already repeat it)."""
    _ensure_key_index(session, table, key)


def upsert_rows(session: Session, table: str, items: list[dict[str, Any]], key: list[str],
                rows: list[list[Any]]) -> tuple[int, int, int]:
    """Upsert converted rows (key unique among them) by `key`; (inserted, updated, keys that existed before)."""
    writer = _Writer(session, table, items, key)
    try:
        ins, upd = writer.write(rows)
    finally:
        writer.close()
    return ins, upd, len(rows) - ins


def pg_type(item: dict[str, Any]) -> str:
    """The PostgreSQL column type of an information item (for typed binds)."""
    return PG_TYPES[item["data_type"]]
