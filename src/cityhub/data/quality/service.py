"""Quality: declarative checks per catalog entry, run after every sync and on demand, scored per entry and unit.

A check's score is the share of checked rows that pass (table checks — freshness, row-count change — pass or
fail whole); an entry's score is the mean of its checks' latest scores, a unit's the mean over its entries'
checks. Checks are declared and run by the provider's staff; scores are read by whoever may read the unit's data
work (its staff and auditors, the bureau).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.catalog import service as catalog
from cityhub.data.collection.sync import key_columns
from cityhub.data.datastore.stores import quote
from cityhub.data.models import CatalogEntry, Resource
from cityhub.data.quality import checks, tasks
from cityhub.data.quality.models import QualityCheck, QualityResult
from cityhub.data.quality.schemas import QualityCheckCreate, QualityScore
from cityhub.kit import clock, refs
from cityhub.kit.errors import NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _

_NUMERIC = {"N", "Y", "I", "B", "F"}


def _params(kind: str, column: str, item: dict[str, Any] | None,  # noqa: C901  # one branch per kind of check
            params: dict[str, Any]) -> dict[str, Any]:
    def need(name: str) -> Any:
        if params.get(name) is None:
            raise ValidationFailed(_("This kind of check needs the parameter"), field=f"params.{name}")
        return params[name]

    if kind in checks.TABLE_KINDS:
        if column:
            raise ValidationFailed(_("A table check names no column"), field="column")
    elif item is None:
        raise ValidationFailed(_("Not an information item of the entry"), field="column")
    if kind == "in_list":
        values = need("values")
        if not isinstance(values, list) or not values or len(values) > 1000:
            raise ValidationFailed(_("A list of 1-1000 codes is needed"), field="params.values")
        return {"values": [str(v)[:200] for v in values]}
    if kind == "range":
        out = {k: params.get(k) for k in ("min", "max")}
        if all(v is None for v in out.values()) or any(v is not None and not isinstance(v, int | float)
                                                         for v in out.values()):
            raise ValidationFailed(_("A numeric min, max or both are needed"), field="params.min")
        if item is not None and item["data_type"] not in _NUMERIC:
            raise ValidationFailed(_("Range checks need a numeric item"), field="column")
        return out
    if kind == "regex":
        pattern = str(need("pattern"))
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValidationFailed(_("Not a regular expression"), field="params.pattern") from exc
        if len(pattern) > 500:
            raise ValidationFailed(_("Not a regular expression"), field="params.pattern")
        return {"pattern": pattern}
    for name in ("max_age_hours", "max_change_pct"):
        if (kind, name) in (("freshness", "max_age_hours"), ("row_count_change", "max_change_pct")):
            v = need(name)
            if not isinstance(v, int | float) or v <= 0:
                raise ValidationFailed(_("A positive number is needed"), field=f"params.{name}")
            return {name: v}
    return {}


def quality_check_create(session: Session, actor: Actor, data: QualityCheckCreate) -> QualityCheck:
    """Declare a check on one of the unit's entries."""
    entry = refs.reference("entry_id", lambda: catalog.catalog_entry_get(session, actor, data.entry_id))
    policies.quality_check_manage(actor, entry.provider_org_id)
    item = next((it for it in entry.items if it["name_en"] == data.column), None)
    params = _params(data.kind, data.column, item, data.params)
    chk = QualityCheck(entry_id=entry.id, org_id=entry.provider_org_id, kind=data.kind, column=data.column,
                       params=params)
    session.add(chk)
    session.flush()
    core.audit_record(session, actor, "quality_check_create", target_type="quality_check", target_id=chk.id,
                      org_id=chk.org_id, after={"entry": str(entry.id), "kind": chk.kind, "column": chk.column,
                                                "params": params})
    return chk


def _check_get(session: Session, actor: Actor, check_id: uuid.UUID) -> QualityCheck:
    chk = session.get(QualityCheck, check_id)
    if chk is None or not policies.collection_read(actor, chk.org_id):
        raise NotFound(_("Check not found"))
    return chk


def quality_check_delete(session: Session, actor: Actor, check_id: uuid.UUID) -> None:
    """Remove a check and its results."""
    chk = _check_get(session, actor, check_id)
    policies.quality_check_manage(actor, chk.org_id)
    before = {"kind": chk.kind, "column": chk.column}
    session.delete(chk)
    session.flush()
    core.audit_record(session, actor, "quality_check_delete", target_type="quality_check", target_id=check_id,
                      org_id=chk.org_id, before=before)


def quality_checks(session: Session, actor: Actor, entry_id: uuid.UUID) -> list[QualityCheck]:
    """An entry's checks with their latest outcome (for those who may read the provider's data work)."""
    entry = catalog.catalog_entry_get(session, actor, entry_id)
    if not policies.collection_read(actor, entry.provider_org_id):
        raise NotFound(_("Catalog entry not found"))
    return list(session.scalars(select(QualityCheck).where(QualityCheck.entry_id == entry.id)
                                .order_by(QualityCheck.created_at)))


def _table(session: Session, entry: CatalogEntry) -> Resource | None:
    return session.scalar(select(Resource).where(Resource.entry_id == entry.id, Resource.kind == "table")
                          .order_by(Resource.created_at))


def _latest(session: Session, check_id: uuid.UUID) -> QualityResult | None:
    return session.scalar(select(QualityResult).where(QualityResult.check_id == check_id)
                          .order_by(QualityResult.id.desc()).limit(1))


class RunDelta:
    """An entry's row checks counted over the rows one sync run writes, batch by batch (a sync.StageWatcher).

    Before each merge the table's rows with the batch's keys are counted (their old values), after it the same
    rows again (their new values): each check's failing count moves by the difference. Started from a latest
    result that is current — made after the table's last load, over as many rows as it holds now — the run's
    outcome is exact while costing the checks of its own rows only; otherwise (first load, a datastore write
    since, no result yet) `outcome` answers None and the check is evaluated over the whole table.
    """

    def __init__(self, session: Session, entry: CatalogEntry, key: list[str]) -> None:
        self.session, self.key = session, key
        self.res = _table(session, entry)
        self.table = self.res.table_name or "" if self.res is not None else ""
        self.base: dict[uuid.UUID, QualityResult] = {}
        self.checks: list[QualityCheck] = []
        self.delta: dict[uuid.UUID, int] = {}
        self.new_failing: dict[uuid.UUID, list[int]] = {}
        self.rows: int | None = None  # the table's rows before the run, when counted here
        if self.res is None or not self.table:
            return
        row_checks = [chk for chk in session.scalars(select(QualityCheck).where(QualityCheck.entry_id == entry.id))
                      if chk.kind in checks.ROW_KINDS]
        if not row_checks:
            return
        rows = self.rows = self.res.row_count  # every writer of the table sets it (uploads, syncs, datastore API)
        for chk in row_checks:
            latest = _latest(session, chk.id)
            if latest is not None and latest.checked == rows and (self.res.loaded_at is None
                                                                   or latest.at >= self.res.loaded_at):
                self.base[chk.id] = latest
                self.checks.append(chk)
                self.delta[chk.id] = 0
                self.new_failing[chk.id] = []

    @property
    def active(self) -> bool:
        """Whether any check counts batches (none on a first load: the whole table is checked afterwards)."""
        return bool(self.checks)

    def _scope(self, stage: str) -> str:
        table = quote(self.table)
        on = " AND ".join(f"s.{quote(k)} = {table}.{quote(k)}" for k in self.key)
        return f"EXISTS (SELECT 1 FROM {quote(stage)} AS s WHERE {on})"

    def _split(self, failing_only: bool = False) -> tuple[list[tuple[QualityCheck, tuple[str, dict[str, Any]]]],
                                                          list[QualityCheck]]:
        """The checks SQL can count together (with their conditions), and those tested in Python.

        `failing_only`: just the checks some row of the table fails right now (base result plus the run's delta).
        """
        in_sql, in_python = [], []
        for n, chk in enumerate(self.checks):
            if failing_only and self.base[chk.id].failed + self.delta[chk.id] <= 0:
                continue
            cond = checks.condition(self.session, chk.kind, chk.column, chk.params, f"_{n}")
            if cond is None:
                in_python.append(chk)
            else:
                in_sql.append((chk, cond))
        return in_sql, in_python

    def before(self, stage: str) -> None:
        """Take away the failures among the rows the batch is about to replace.

        A check that no row of the table fails right now (its current result, moved by the run so far, is 0)
        cannot lose a failure: it is not counted — with clean data the table is not read at all. The others are
        counted together in one pass over the table's rows with the batch's keys (an index lookup per staged key).
        """
        in_sql, in_python = self._split(failing_only=True)
        if not in_sql and not in_python:
            return
        on = " AND ".join(f"s.{quote(k)} = t.{quote(k)}" for k in self.key)
        rows = f"(SELECT t.* FROM {quote(stage)} AS s JOIN {quote(self.table)} AS t ON {on}) AS x"
        for (chk, _c), failed in zip(in_sql, checks.count_where(self.session, rows, [c for _k, c in in_sql]),
                                     strict=True):
            self.delta[chk.id] -= failed
        for chk in in_python:
            failed, _sample = checks.failing(self.session, self.table, chk.kind, chk.column,
                                             chk.params, self._scope(stage))
            self.delta[chk.id] -= failed

    def after(self, stage: str) -> None:
        """Add the failures among the batch's rows as merged.

        After the merge the table's rows with the batch's keys hold exactly the staged values (inserted, updated
        to them, or equal already), so the SQL checks count the stage itself; the table is read only for the
        `_id`s of a sample when a check failed.
        """
        if not self.checks:
            return
        in_sql, in_python = self._split()
        for (chk, _c), failed in zip(in_sql, checks.count_where(self.session, quote(stage),
                                                                [c for _k, c in in_sql]), strict=True):
            self.delta[chk.id] += failed
            if failed:
                self._note(chk, checks.failing(self.session, self.table, chk.kind, chk.column, chk.params,
                                               self._scope(stage))[1])
        for chk in in_python:
            failed, sample = checks.failing(self.session, self.table, chk.kind, chk.column,
                                            chk.params, self._scope(stage))
            self.delta[chk.id] += failed
            self._note(chk, sample)

    def _note(self, chk: QualityCheck, sample: list[int]) -> None:
        seen = self.new_failing[chk.id]
        seen.extend(i for i in sample if i not in seen and len(seen) < checks.SAMPLE)

    def outcome(self, chk: QualityCheck, total: int) -> checks.Outcome | None:
        """The check over the whole table after the run, from its base result and the run's delta (None: no base)."""
        base = self.base.get(chk.id)
        if base is None:
            return None
        new = self.new_failing[chk.id]
        old = [int(i) for i in base.sample if int(i) not in new]
        still: list[int] = []
        if old:  # earlier samples still failing (the run may have fixed them)
            still = checks.failing(self.session, self.table, chk.kind, chk.column, chk.params,
                                   f'"_id" IN ({", ".join(str(i) for i in old)})')[1]
        return checks.Outcome(total, max(0, base.failed + self.delta[chk.id]), (new + still)[:checks.SAMPLE])


def run_entry_checks(session: Session, entry: CatalogEntry, delta: RunDelta | None = None,
                     rows: int | None = None) -> list[QualityCheck]:
    """Evaluate every check of the entry now (after a sync, or on demand), recording a result per check.

    After an incremental sync `delta` carries the row checks over the run's rows: those checks are not re-run
    over the table. `rows`: the table's row count when the caller knows it exactly (a sync run just wrote it).
    """
    res = _table(session, entry)
    out = list(session.scalars(select(QualityCheck).where(QualityCheck.entry_id == entry.id)))
    now = clock.now()
    total, key = None, None
    if out and res is not None and res.table_name:  # counted once for every check; the key spares a scan
        total = rows if rows is not None else int(
            session.scalar(text(f"SELECT COUNT(*) FROM {quote(res.table_name)}")) or 0)
        key = key_columns(session, res.table_name)
    for chk in out:
        if res is None or not res.table_name:
            outcome = checks.Outcome(0, 1 if chk.kind == "freshness" else 0, [], "no data loaded")
        else:
            found = delta.outcome(chk, total or 0) if delta is not None else None
            if found is not None:
                outcome = found
            else:
                previous = None
                if chk.kind == "row_count_change":
                    previous = session.scalar(select(QualityResult.checked).where(QualityResult.check_id == chk.id)
                                              .order_by(QualityResult.id.desc()).limit(1))
                outcome = checks.evaluate(session, res, chk.kind, chk.column, chk.params, previous, total, key)
        whole = chk.kind in checks.TABLE_KINDS
        score = (1.0 - outcome.failed) if whole else (1.0 - outcome.failed / outcome.checked
                                                      if outcome.checked else 1.0)
        score = max(0.0, score)
        session.add(QualityResult(check_id=chk.id, entry_id=entry.id, org_id=chk.org_id, at=now,
                                  checked=outcome.checked, failed=outcome.failed, score=score,
                                  sample=outcome.sample, message=outcome.message))
        chk.last_score, chk.last_failed, chk.last_message, chk.last_run_at = score, outcome.failed, \
            outcome.message, now
    session.flush()
    tasks.tasks_after_run(session, entry, out)  # failures open (or update) the provider's quality task
    return out


def quality_run(session: Session, actor: Actor, entry_id: uuid.UUID) -> list[QualityCheck]:
    """Run an entry's checks on demand (the provider's staff)."""
    entry = catalog.catalog_entry_get(session, actor, entry_id)
    policies.quality_check_manage(actor, entry.provider_org_id)
    out = run_entry_checks(session, entry)
    core.audit_record(session, actor, "quality_run", target_type="catalog_entry", target_id=entry.id,
                      org_id=entry.provider_org_id, extra={"checks": len(out)})
    return out


def quality_scores(session: Session, actor: Actor) -> tuple[list[QualityScore], list[QualityScore]]:
    """Scores (0-100) per unit and per entry over the checks the actor may see, lowest first."""
    stmt = select(QualityCheck, CatalogEntry.title).join(CatalogEntry, CatalogEntry.id == QualityCheck.entry_id)
    if not (actor.is_system or actor.is_platform_admin or policies.is_bureau(actor)):
        stmt = stmt.where(QualityCheck.org_id.in_(policies.readable_orgs(actor)))
    by_entry: dict[uuid.UUID, list[Any]] = {}
    titles: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}
    for chk, title in session.execute(stmt):
        by_entry.setdefault(chk.entry_id, []).append(chk)
        titles[chk.entry_id] = (chk.org_id, title)
    entries: list[QualityScore] = []
    by_org: dict[uuid.UUID, list[QualityCheck]] = {}
    for eid, chks in by_entry.items():
        scored = [c.last_score for c in chks if c.last_score is not None]
        org, title = titles[eid]
        entries.append(QualityScore(org_id=org, entry_id=eid, title=title, checks=len(chks),
                                    failing=sum(1 for c in chks if c.last_failed),
                                    score=round(100 * sum(scored) / len(scored), 1) if scored else None))
        by_org.setdefault(org, []).extend(chks)
    units = []
    for org, chks in by_org.items():
        scored = [c.last_score for c in chks if c.last_score is not None]
        units.append(QualityScore(org_id=org, checks=len(chks), failing=sum(1 for c in chks if c.last_failed),
                                  score=round(100 * sum(scored) / len(scored), 1) if scored else None))

    def key(s: QualityScore) -> float:
        return s.score if s.score is not None else 101.0

    return sorted(units, key=key), sorted(entries, key=key)
