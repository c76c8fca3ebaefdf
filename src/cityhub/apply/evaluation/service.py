"""The annual evaluation (年度评比机制, 云长权责机制): schemes as data, a yearly run, the bureau's adjustments, freeze.

A **scheme** names the units it ranks (city departments, or districts and counties) and its indicators: keys of
`INDICATORS` with a weight and the value that earns full marks. Each indicator is measured per unit through a
layer's façade, as the platform itself (`Actor.system`) — 上云率 and 整合率 against the unit's own targets (cloud),
published and shared catalog entries and data quality (data), closed incidents within their SLA (ops), components
published (compute) — or scored by the bureau (`bureau.assessment`, 0 until scored).

**Score**: each indicator scores `100 × min(1, value / full marks)`; an indicator that does not apply to a unit
(no systems, no closed incidents, no quality checks) scores nothing and its weight is shared by the others, so a
unit is neither rewarded nor punished for what it has not got. The computed score is the weighted mean (0-100);
the bureau's adjustment (±20, with a reason, audited) gives the total; units rank by total (ties by name).

A **run** copies the scheme's indicators when computed, may be recomputed, adjusted while a draft, and once
**frozen** never changes again: every write on it is a 409. Everyone on the staff sees the ranking; a unit's
breakdown (its scorecard) is seen by the bureau, the unit's staff and its 云长 (the unit's head), others get 404.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.apply import policies, reference
from cityhub.apply.evaluation.schemas import (
    Adjustment,
    IndicatorResult,
    IndicatorSpec,
    RankRow,
    RunCreate,
    SchemeCreate,
    SchemeUpdate,
    ScoreCard,
)
from cityhub.apply.models import EvalRun, EvalScheme, EvalScore, EvalStatus, OrgType
from cityhub.apply.scenarios import service as scenarios
from cityhub.cloud import service as cloud
from cityhub.compute import service as compute
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.data import service as data
from cityhub.kit import clock, labels
from cityhub.kit.db import get_or_404
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams
from cityhub.ops import service as ops

_ACTOR = Actor.system("apply-evaluation")
_ONE = PageParams(limit=1, offset=0)
ADJUST_LIMIT = 20.0
RESPONSE_FULL_HOURS = 48.0  # a sharing request decided within two days of its submission earns full marks
KINDS: dict[str, tuple[str, ...]] = {OrgType.DEPARTMENT: ("department",),
                                     OrgType.DISTRICT: ("district", "county", "new_area")}
Measured = dict[uuid.UUID, tuple[float, float | None] | None]  # org → (value, its own full marks) or n/a


@dataclass(frozen=True)
class Indicator:
    """A measurable indicator: title (English message id), unit, and how it is measured for a set of units."""

    key: str
    layer: str
    title: str
    unit: str
    measure: Callable[[Session, list[uuid.UUID], int], Measured]
    bureau: bool = False  # scored by the bureau in the run, not measured
    lower: bool = False  # lower is better (a response time): full marks at or below `full_at`


def _cloud(which: str) -> Callable[[Session, list[uuid.UUID], int], Measured]:
    def measure(session: Session, ids: list[uuid.UUID], year: int) -> Measured:
        _city, units = cloud.ratios(session, _ACTOR, year)
        by = {u.org_id: u for u in units}
        out: Measured = {}
        for oid in ids:
            r = by.get(oid)
            if r is None or not r.systems:
                out[oid] = None
            elif which == "on_cloud":
                out[oid] = (100.0 * r.on_cloud_ratio, 100.0 * r.on_cloud_target or None)
            else:
                out[oid] = (100.0 * r.integration_ratio, 100.0 * r.integration_target or None)
        return out
    return measure


def _entries(session: Session) -> dict[uuid.UUID, tuple[int, int]]:
    counts: dict[uuid.UUID, tuple[int, int]] = {}
    for e in data.catalog_list_entries(session, _ACTOR):
        n, shared = counts.get(e.provider_org_id, (0, 0))
        counts[e.provider_org_id] = (n + 1, shared + (e.share_type != "none"))
    return counts


def _published(session: Session, ids: list[uuid.UUID], _year: int) -> Measured:
    counts = _entries(session)
    return {oid: (float(counts.get(oid, (0, 0))[0]), None) for oid in ids}


def _shared(session: Session, ids: list[uuid.UUID], _year: int) -> Measured:
    counts = _entries(session)
    out: Measured = {}
    for oid in ids:
        n, shared = counts.get(oid, (0, 0))
        out[oid] = (round(100.0 * shared / n, 2), None) if n else None
    return out


def _quality(session: Session, ids: list[uuid.UUID], _year: int) -> Measured:
    units, _scored_entries = data.quality_scores(session, _ACTOR)
    by = {u.org_id: u.score for u in units}
    out: Measured = {}
    for oid in ids:
        score = by.get(oid)
        out[oid] = (float(score), None) if score is not None else None
    return out


def _sla(session: Session, ids: list[uuid.UUID], _year: int) -> Measured:
    out: Measured = {}
    for oid in ids:
        _r, closed = ops.incident_list(session, _ACTOR, _ONE, status="closed", org_id=oid)
        if not closed:
            out[oid] = None
            continue
        _r, kept = ops.incident_list(session, _ACTOR, _ONE, status="closed", org_id=oid, breached=False)
        out[oid] = (round(100.0 * kept / closed, 2), None)
    return out


def _components(session: Session, ids: list[uuid.UUID], _year: int) -> Measured:
    return {oid: (float(compute.component_list(session, _ACTOR, _ONE, status="published", org_id=oid)[1]), None)
            for oid in ids}


def _response_hours(session: Session, ids: list[uuid.UUID], year: int) -> Measured:
    by = data.share_response_hours(session, _ACTOR, year)
    return {oid: (by[oid][0], RESPONSE_FULL_HOURS) if oid in by else None for oid in ids}


def _responsibility(session: Session, ids: list[uuid.UUID], _year: int) -> Measured:
    by = {k["org_id"]: float(k["score"]) for k in data.kpis(session, _ACTOR)}
    return {oid: (by[oid], None) if oid in by else None for oid in ids}


def _usage(session: Session, ids: list[uuid.UUID], year: int) -> Measured:
    calls: dict[uuid.UUID, int] = {}
    for row in compute.usage_report(session, _ACTOR, since=datetime(year, 1, 1, tzinfo=UTC),
                                    until=datetime(year + 1, 1, 1, tzinfo=UTC)):
        calls[row.org_id] = calls.get(row.org_id, 0) + row.calls
    return {oid: (float(calls.get(oid, 0)), None) for oid in ids}


def _scenarios(session: Session, ids: list[uuid.UUID], year: int) -> Measured:
    by = scenarios.delivery_by_owner(session, year)
    return {oid: (round(100.0 * by[oid][1] / by[oid][0], 2), None) if by.get(oid, (0, 0))[0] else None
            for oid in ids}


def _bureau(_session: Session, ids: list[uuid.UUID], _year: int) -> Measured:
    return dict.fromkeys(ids, (0.0, None))


INDICATORS: dict[str, Indicator] = {i.key: i for i in (
    Indicator("cloud.on_cloud", "cloud", "On-cloud ratio against the unit's target", "%", _cloud("on_cloud")),
    Indicator("cloud.integration", "cloud", "Integration ratio against the unit's target", "%",
              _cloud("integration")),
    Indicator("data.entries_published", "data", "Data resources published to the catalog", "", _published),
    Indicator("data.entries_shared", "data", "Share of published resources open for sharing", "%", _shared),
    Indicator("data.quality", "data", "Data quality score", "", _quality),
    Indicator("ops.incident_sla", "ops", "Closed incidents handled within their SLA", "%", _sla),
    Indicator("compute.components_published", "compute", "Capability components published", "", _components),
    Indicator("data.request_response_hours", "data", "Mean hours from a sharing request to the provider's decision",
              "h", _response_hours, lower=True),
    Indicator("data.responsibility_kpi", "data", "Responsibility list (责任清单) KPI score", "", _responsibility),
    Indicator("compute.component_calls", "compute", "Calls of the unit's applications to hub components", "",
              _usage),
    Indicator("apply.scenarios_delivered", "apply", "Share of the unit's due scenarios delivered", "%", _scenarios),
    Indicator("bureau.assessment", "apply", "The bureau's assessment", "", _bureau, bureau=True),
)}
labels.register("apply.indicator", {k: i.title for k, i in INDICATORS.items()})


def indicators(actor: Actor) -> list[dict[str, Any]]:
    """The registry (key, layer, title, unit, scored by the bureau)."""
    policies.target_read(actor)
    return [{"key": i.key, "layer": i.layer, "title": _(i.title), "unit": i.unit, "bureau": i.bureau,
             "lower": i.lower}
            for i in INDICATORS.values()]


def _check_indicators(specs: list[IndicatorSpec]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    for n, s in enumerate(specs):
        if s.key not in INDICATORS:
            raise ValidationFailed(_("Name one of the evaluation indicators"), field=f"indicators.{n}.key")
        if s.key in seen:
            raise ValidationFailed(_("An indicator appears once in a scheme"), field=f"indicators.{n}.key")
        seen.add(s.key)
    return [s.model_dump() for s in specs]


# ---------------------------------------------------------------- schemes


def scheme_list(session: Session, actor: Actor) -> list[EvalScheme]:
    """Every scheme (staff read them: the rules are public to those they judge)."""
    policies.target_read(actor)
    return list(session.scalars(select(EvalScheme).order_by(EvalScheme.code)))


def scheme_get(session: Session, actor: Actor, scheme_id: uuid.UUID) -> EvalScheme:
    """One scheme."""
    policies.target_read(actor)
    s = get_or_404(session, EvalScheme, scheme_id, "Evaluation scheme")
    return s


def evaluation_scheme_create(session: Session, actor: Actor, body: SchemeCreate) -> EvalScheme:
    """The bureau adds a scheme."""
    policies.evaluation_scheme_create(actor)
    specs = _check_indicators(body.indicators)
    if session.scalar(select(EvalScheme.id).where(EvalScheme.code == body.code)) is not None:
        raise Conflict(_("A scheme with this code exists"), details=[{"field": "code", "message": "taken"}])
    s = EvalScheme(code=body.code, title_zh=body.title_zh, title_en=body.title_en, org_type=body.org_type,
                   indicators=specs)
    session.add(s)
    session.flush()
    core.audit_record(session, actor, "evaluation_scheme_create", target_type="apply_eval_scheme", target_id=s.id,
                      after={"code": s.code, "org_type": s.org_type, "indicators": specs})
    return s


def evaluation_scheme_update(session: Session, actor: Actor, scheme_id: uuid.UUID, body: SchemeUpdate
                             ) -> EvalScheme:
    """The bureau changes a scheme; runs keep the indicators they were computed with."""
    s = scheme_get(session, actor, scheme_id)
    policies.evaluation_scheme_update(actor)
    values = body.model_dump(exclude_unset=True)
    if "title_zh" in values and values["title_zh"] is None:
        raise ValidationFailed(_("This field cannot be null"), field="title_zh")
    if body.indicators is not None:
        values["indicators"] = _check_indicators(body.indicators)
    elif "indicators" in values:
        raise ValidationFailed(_("This field cannot be null"), field="indicators")
    with core.audited(session, actor, "evaluation_scheme_update", s, ("title_zh", "title_en", "indicators"),
                      target_type="apply_eval_scheme"):
        for k, v in values.items():
            setattr(s, k, v)
    return s


def scheme_seed(session: Session, actor: Actor) -> int:
    """Load the default schemes (reference.SCHEMES) that are missing; returns how many were added."""
    have = set(session.scalars(select(EvalScheme.code)))
    n = 0
    for code, zh, en, org_type, specs in reference.SCHEMES:
        if code not in have:
            evaluation_scheme_create(session, actor, SchemeCreate(
                code=code, title_zh=zh, title_en=en, org_type=OrgType(org_type),
                indicators=[IndicatorSpec(key=k, weight=w, full_at=f) for k, w, f in specs]))
            n += 1
    return n


# ---------------------------------------------------------------- runs


def run_list(session: Session, actor: Actor) -> list[EvalRun]:
    """Every run, latest year first (the ranking is everyone's to see)."""
    policies.target_read(actor)
    return list(session.scalars(select(EvalRun).order_by(EvalRun.year.desc(), EvalRun.created_at.desc())))


def run_get(session: Session, actor: Actor, run_id: uuid.UUID) -> EvalRun:
    """One run."""
    policies.target_read(actor)
    r = get_or_404(session, EvalRun, run_id, "Evaluation run")
    return r


def _units(session: Session, org_type: str) -> list[Any]:
    bureau = core.bureau_id(session)
    kinds = KINDS[org_type]
    return [o for o in core.organization_all(session) if o.kind in kinds and o.id != bureau]


def score_unit(specs: list[dict[str, Any]], measured: dict[str, tuple[float, float | None] | None],
               manual: dict[str, Any]) -> tuple[list[dict[str, Any]], float]:
    """One unit's breakdown and computed score (0-100) from its measured values and the bureau's scores."""
    rows: list[dict[str, Any]] = []
    weight = got = 0.0
    for spec in specs:
        key, w = spec["key"], float(spec["weight"])
        m = (float(manual[key]), None) if key in manual else measured.get(key)
        if m is None:
            rows.append({"key": key, "weight": w, "value": None, "full_at": None, "score": None})
            continue
        value, own_full = m
        full = spec.get("full_at") or own_full or 100.0
        ind = INDICATORS.get(key)
        if ind is not None and ind.lower:  # full marks at or below `full`, then full / value
            score = round(100.0 * (1.0 if value <= full else full / value), 2)
        else:
            score = round(100.0 * min(1.0, max(0.0, value) / full), 2)
        rows.append({"key": key, "weight": w, "value": round(value, 2), "full_at": full, "score": score})
        weight += w
        got += w * score
    return rows, round(got / weight, 2) if weight else 0.0


def _rank(scores: list[EvalScore], names: dict[uuid.UUID, str]) -> None:
    scores.sort(key=lambda s: (-s.total, names.get(s.org_id, "")))
    for i, s in enumerate(scores, 1):
        s.rank = i


def _draft(run: EvalRun) -> None:
    if run.status == EvalStatus.FROZEN:
        raise Conflict(_("The evaluation is frozen and cannot change"))


def evaluation_run_compute(session: Session, actor: Actor, body: RunCreate) -> EvalRun:
    """Compute a scheme's run for a year (a draft is recomputed; adjustments and the bureau's scores are kept)."""
    policies.evaluation_run_compute(actor)
    scheme = session.get(EvalScheme, body.scheme_id)
    if scheme is None:
        raise ValidationFailed(_("Evaluation scheme not found"), field="scheme_id")
    run = session.scalar(select(EvalRun).where(EvalRun.scheme_id == scheme.id, EvalRun.year == body.year))
    if run is None:
        run = EvalRun(scheme_id=scheme.id, year=body.year, status=EvalStatus.DRAFT)
        session.add(run)
        session.flush()
    _draft(run)
    run.indicators = [dict(i) for i in scheme.indicators]
    units = _units(session, scheme.org_type)
    ids = [o.id for o in units]
    names = {o.id: o.name for o in units}
    per_key = {spec["key"]: INDICATORS[spec["key"]].measure(session, ids, run.year) for spec in run.indicators
               if spec["key"] in INDICATORS}
    existing = {s.org_id: s for s in session.scalars(select(EvalScore).where(EvalScore.run_id == run.id))}
    scores: list[EvalScore] = []
    for oid in ids:
        s = existing.pop(oid, None)
        if s is None:
            s = EvalScore(run_id=run.id, org_id=oid, manual={}, adjustment=0.0, adjustment_reason="")
            session.add(s)
        s.breakdown, s.computed = score_unit(run.indicators, {k: v.get(oid) for k, v in per_key.items()},
                                             s.manual or {})
        s.total = round(s.computed + s.adjustment, 2)
        scores.append(s)
    for gone in existing.values():  # a unit no longer of this type leaves the draft
        session.delete(gone)
    _rank(scores, names)
    run.computed_at = clock.now()
    session.flush()
    core.audit_record(session, actor, "evaluation_run_compute", target_type="apply_eval_run", target_id=run.id,
                      extra={"scheme": scheme.code, "year": run.year, "units": len(scores)})
    return run


def evaluation_score_adjust(session: Session, actor: Actor, run_id: uuid.UUID, org_id: uuid.UUID,
                            body: Adjustment) -> EvalScore:
    """The bureau adjusts a unit's result (±20) and/or scores its bureau-scored indicators, with a reason."""
    run = run_get(session, actor, run_id)
    policies.evaluation_score_adjust(actor)
    _draft(run)
    s = session.scalar(select(EvalScore).where(EvalScore.run_id == run.id, EvalScore.org_id == org_id))
    if s is None:
        raise NotFound(_("The unit is not in this evaluation"))
    if body.adjustment is None and body.manual is None:
        raise ValidationFailed(_("Give an adjustment or the bureau's scores"), field="adjustment")
    bureau_keys = {spec["key"] for spec in run.indicators if INDICATORS.get(spec["key"]) is not None
                   and INDICATORS[spec["key"]].bureau}
    for key in body.manual or {}:
        if key not in bureau_keys:
            raise ValidationFailed(_("Only the bureau-scored indicators of the scheme take scores"),
                                   field=f"manual.{key}")
    with core.audited(session, actor, "evaluation_score_adjust", s, ("adjustment", "manual", "total"),
                      target_type="apply_eval_score", org_id=s.org_id,
                      extra={"run": str(run.id), "year": run.year, "reason": body.reason}):
        if body.manual is not None:
            s.manual = {**(s.manual or {}), **body.manual}
            measured = {r["key"]: ((r["value"], r["full_at"]) if r["score"] is not None else None)
                        for r in s.breakdown}
            s.breakdown, s.computed = score_unit(run.indicators, measured, s.manual)
        if body.adjustment is not None:
            s.adjustment = body.adjustment
        s.adjustment_reason = body.reason
        s.total = round(s.computed + s.adjustment, 2)
    scores = list(session.scalars(select(EvalScore).where(EvalScore.run_id == run.id)))
    _rank(scores, {o.id: o.name for o in core.organization_all(session)})
    session.flush()
    return s


def evaluation_run_freeze(session: Session, actor: Actor, run_id: uuid.UUID) -> EvalRun:
    """The bureau freezes a run: its scores and ranking never change again."""
    run = run_get(session, actor, run_id)
    policies.evaluation_run_freeze(actor)
    _draft(run)
    with core.audited(session, actor, "evaluation_run_freeze", run, ("status",), target_type="apply_eval_run",
                      extra={"year": run.year}):
        run.status, run.frozen_at, run.frozen_by = EvalStatus.FROZEN, clock.now(), actor.user_id
    return run


# ---------------------------------------------------------------- reading results


def ranking(session: Session, actor: Actor, run_id: uuid.UUID) -> list[RankRow]:
    """Every unit's rank and total (every member of staff sees the ranking)."""
    run = run_get(session, actor, run_id)
    names = {o.id: o.name for o in core.organization_all(session)}
    rows = session.scalars(select(EvalScore).where(EvalScore.run_id == run.id).order_by(EvalScore.rank))
    return [RankRow(org_id=s.org_id, org_name=names.get(s.org_id, ""), rank=s.rank, total=s.total,
                    adjusted=bool(s.adjustment)) for s in rows]


def _is_head(session: Session, actor: Actor, org_id: uuid.UUID) -> bool:
    head = core.organization_head(session, org_id)
    return head is not None and actor.user_id is not None and head.id == actor.user_id


def scorecard(session: Session, actor: Actor, run_id: uuid.UUID, org_id: uuid.UUID) -> ScoreCard:
    """A unit's scorecard: the bureau, the unit's staff and its 云长 see it; anyone else gets 404."""
    run = run_get(session, actor, run_id)
    if not policies.scorecard_read(actor, org_id, _is_head(session, actor, org_id)):
        raise NotFound(_("The unit is not in this evaluation"))
    s = session.scalar(select(EvalScore).where(EvalScore.run_id == run.id, EvalScore.org_id == org_id))
    if s is None:
        raise NotFound(_("The unit is not in this evaluation"))
    org = core.organization_get(session, _ACTOR, org_id)
    units = len(list(session.scalars(select(EvalScore.id).where(EvalScore.run_id == run.id))))
    return ScoreCard(run_id=run.id, year=run.year, status=run.status, org_id=org_id, org_name=org.name,
                     head=core.organization_heads(session, [org_id]).get(org_id, ""), rank=s.rank, units=units,
                     computed=s.computed, adjustment=s.adjustment, adjustment_reason=s.adjustment_reason,
                     total=s.total, breakdown=[IndicatorResult(**r) for r in s.breakdown])


def my_scorecards(session: Session, actor: Actor) -> list[tuple[EvalRun, uuid.UUID]]:
    """The runs in which a unit the actor is staff or 云长 of is scored (their own scorecards)."""
    policies.target_read(actor)
    mine = set(actor.staff_orgs) | {o.id for o in core.organization_all(session)
                                    if o.head_user_id is not None and o.head_user_id == actor.user_id}
    if not mine:
        return []
    rows = session.execute(select(EvalRun, EvalScore.org_id).join(EvalScore, EvalScore.run_id == EvalRun.id)
                           .where(EvalScore.org_id.in_(mine)).order_by(EvalRun.year.desc()))
    return [(r, oid) for r, oid in rows.tuples()]


def export_xlsx(session: Session, actor: Actor, run_id: uuid.UUID) -> bytes:
    """The run as a workbook: the ranking with every indicator's score (the bureau's report)."""
    run = run_get(session, actor, run_id)
    policies.evaluation_export(actor)
    from openpyxl import Workbook  # imported on use: only the export needs it

    scheme = session.get(EvalScheme, run.scheme_id)
    names = {o.id: o.name for o in core.organization_all(session)}
    keys = [spec["key"] for spec in run.indicators]
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(str(run.year))
    ws.append([scheme.title_zh if scheme else "", run.year, labels.label(run.status, EvalStatus)])
    ws.append([_("Rank"), _("Unit"), _("Total"), _("Computed score"), _("Adjustment"), _("Reason")]
              + [f"{labels.label(k, 'apply.indicator')} ({spec['weight']:g})" for k, spec
                 in zip(keys, run.indicators, strict=True)])
    for s in session.scalars(select(EvalScore).where(EvalScore.run_id == run.id).order_by(EvalScore.rank)):
        by = {r["key"]: r["score"] for r in s.breakdown}
        ws.append([s.rank, names.get(s.org_id, ""), s.total, s.computed, s.adjustment, s.adjustment_reason]
                  + [by.get(k) if by.get(k) is not None else "—" for k in keys])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def report(session: Session, actor: Actor, run_id: uuid.UUID) -> dict[str, Any]:
    """The printable report of a run (the bureau, auditors — as the workbook).

    The scheme's indicators, the ranking, every unit's score per indicator, the bureau's adjustments with their
    reasons, and summary figures.
    """
    run = run_get(session, actor, run_id)
    policies.evaluation_export(actor)
    names = {o.id: o.name for o in core.organization_all(session)}
    scores = list(session.scalars(select(EvalScore).where(EvalScore.run_id == run.id).order_by(EvalScore.rank)))
    heads = core.organization_heads(session, [s.org_id for s in scores])
    units: list[dict[str, Any]] = []
    for s in scores:
        units.append({"org_id": s.org_id, "name": names.get(s.org_id, ""), "head": heads.get(s.org_id, ""),
                      "rank": s.rank, "computed": s.computed, "adjustment": s.adjustment,
                      "reason": s.adjustment_reason, "total": s.total,
                      "scores": {r["key"]: r["score"] for r in s.breakdown},
                      "values": {r["key"]: r["value"] for r in s.breakdown}})
    totals: list[float] = [float(u["total"]) for u in units]
    per_key = {spec["key"]: [u["scores"][spec["key"]] for u in units if u["scores"].get(spec["key"]) is not None]
               for spec in run.indicators}
    return {"run": run, "scheme": session.get(EvalScheme, run.scheme_id), "indicators": run.indicators,
            "units": units, "adjusted": [u for u in units if u["adjustment"]],
            "mean": round(sum(totals) / len(totals), 2) if totals else None,
            "best": max(totals) if totals else None, "worst": min(totals) if totals else None,
            "indicator_means": {k: round(sum(v) / len(v), 1) if v else None for k, v in per_key.items()}}
