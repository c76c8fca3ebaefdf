"""The application-scenario register (应用场景): scenarios by batch, their state, and what they use in the platform.

A unit's staff **declare** a scenario of their unit (`apply.report` on the owner unit, as for reported progress);
the bureau (`apply.manage`) accepts it into building, the owner unit reports it built, and the bureau accepts it
as delivered (验收). `FLOW` is the transition table, and says for each step whether only the bureau takes it; any
other move is a 409. Every member of staff reads the register (the programme is the city's).

A scenario names the capability components, catalog entries, devices and cloud resources it uses; each id must be one
the proposer can see through its layer's façade (else a 422 naming `component_ids` / `entry_ids` / `device_ids` /
`cloud_resource_ids`), so "which scenarios depend on this component / device" is a filter of the list. Scenarios
**built or accepted** count towards their batch's target (`delivered`, the progress sources `apply.scenarios_<batch>`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cityhub.apply import files, policies
from cityhub.apply.models import Scenario, ScenarioBatch, ScenarioKpi, ScenarioLink, ScenarioLinkKind, ScenarioStatus
from cityhub.apply.panorama import snapshot
from cityhub.apply.schemas import BatchSummary, ScenarioBudgetSet, ScenarioCreate, ScenarioKpisSet, ScenarioLinksSet
from cityhub.apply.schemas import Scenario as ScenarioRead
from cityhub.apply.schemas import ScenarioKpi as KpiRead
from cityhub.cloud import service as cloud
from cityhub.compute import service as compute
from cityhub.connect import service as connect
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.data import service as data
from cityhub.kit.db import get_or_404
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed, transition
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate
from cityhub.kit.refs import reference as ref

DISTRICT_KINDS = ("district", "county", "new_area")
DELIVERED = (ScenarioStatus.BUILT, ScenarioStatus.ACCEPTED)
PICTURES = "scenario-pictures"  # var_dir/apply/<PICTURES>/<scenario id>
PICTURE_TYPES = ("image/png", "image/jpeg")
# (from, to) → taken by the bureau only (True) or by the owner unit as well (False)
FLOW: dict[ScenarioStatus, dict[ScenarioStatus, bool]] = {
    ScenarioStatus.DECLARED: {ScenarioStatus.BUILDING: True},
    ScenarioStatus.BUILDING: {ScenarioStatus.BUILT: False},
    ScenarioStatus.BUILT: {ScenarioStatus.ACCEPTED: True, ScenarioStatus.BUILDING: False},
    ScenarioStatus.ACCEPTED: {},
}
_ALLOWED = {k: set(v) for k, v in FLOW.items()}
# link kind → the create/read field of its ids
LINK_FIELDS = {ScenarioLinkKind.COMPONENT: "component_ids", ScenarioLinkKind.CATALOG_ENTRY: "entry_ids",
               ScenarioLinkKind.DEVICE: "device_ids", ScenarioLinkKind.CLOUD_RESOURCE: "cloud_resource_ids"}


def _read(s: Scenario, links: Iterable[ScenarioLink]) -> ScenarioRead:
    mine = [ln for ln in links if ln.scenario_id == s.id]
    return ScenarioRead.model_validate({
        **{k: getattr(s, k) for k in ("id", "created_at", "updated_at", "name", "batch", "year", "owner_org_id",
                                      "district_org_id", "summary", "status", "budget_planned", "budget_spent")},
        **{field: [ln.ref_id for ln in mine if ln.kind == kind] for kind, field in LINK_FIELDS.items()},
        "picture": bool(s.picture_sha256)})


def _links(session: Session, ids: list[uuid.UUID]) -> list[ScenarioLink]:
    if not ids:
        return []
    return list(session.scalars(select(ScenarioLink).where(ScenarioLink.scenario_id.in_(ids))))


def scenario_list(session: Session, actor: Actor, page: PageParams, *, batch: str | None = None,
                  status: str | None = None, owner_org_id: uuid.UUID | None = None,
                  component_id: uuid.UUID | None = None, entry_id: uuid.UUID | None = None,
                  device_id: uuid.UUID | None = None, cloud_resource_id: uuid.UUID | None = None
                  ) -> tuple[list[ScenarioRead], int]:
    """The register by batch, year and name; filtered, e.g. by a component it uses (staff read it all)."""
    policies.target_read(actor)
    stmt = select(Scenario)
    if batch:
        stmt = stmt.where(Scenario.batch == batch)
    if status:
        stmt = stmt.where(Scenario.status == status)
    if owner_org_id:
        stmt = stmt.where(Scenario.owner_org_id == owner_org_id)
    for kind, ref_id in ((ScenarioLinkKind.COMPONENT, component_id), (ScenarioLinkKind.CATALOG_ENTRY, entry_id),
                         (ScenarioLinkKind.DEVICE, device_id), (ScenarioLinkKind.CLOUD_RESOURCE, cloud_resource_id)):
        if ref_id:
            stmt = stmt.where(Scenario.id.in_(select(ScenarioLink.scenario_id).where(
                ScenarioLink.kind == kind, ScenarioLink.ref_id == ref_id)))
    in_plan_order = case({b.value: i for i, b in enumerate(ScenarioBatch)}, value=Scenario.batch)
    rows, total = paginate(session, stmt.order_by(in_plan_order, Scenario.year, Scenario.name), page)
    links = _links(session, [s.id for s in rows])
    return [_read(s, links) for s in rows], total


def scenario_get(session: Session, actor: Actor, scenario_id: uuid.UUID) -> ScenarioRead:
    """One scenario with what it uses."""
    policies.target_read(actor)
    s = get_or_404(session, Scenario, scenario_id, "Scenario")
    return _read(s, _links(session, [s.id]))


def _check_orgs(session: Session, body: ScenarioCreate) -> None:
    orgs = {o.id: o for o in core.organization_all(session)}
    problems = []
    if body.owner_org_id not in orgs:
        problems.append(("owner_org_id", _("Name a unit of the city")))
    d = orgs.get(body.district_org_id) if body.district_org_id else None
    if body.district_org_id and (d is None or d.kind not in DISTRICT_KINDS):
        problems.append(("district_org_id", _("Name a district or county")))
    if problems:
        raise ValidationFailed(problems[0][1], details=[{"field": f, "message": m} for f, m in problems])


_GETTERS = {ScenarioLinkKind.COMPONENT: compute.component_get, ScenarioLinkKind.CATALOG_ENTRY: data.catalog_entry_get,
            ScenarioLinkKind.DEVICE: connect.device_get, ScenarioLinkKind.CLOUD_RESOURCE: cloud.resource_get}


def _check_links(session: Session, actor: Actor, ids: dict[ScenarioLinkKind, Iterable[uuid.UUID]]) -> None:
    """Each id one the actor can see through its layer's façade, else a 422 naming its field (`component_ids` …)."""
    for kind, refs in ids.items():
        for ref_id in refs:
            ref(LINK_FIELDS[kind], partial(_GETTERS[kind], session, actor, ref_id))


def scenario_create(session: Session, actor: Actor, body: ScenarioCreate) -> ScenarioRead:
    """A unit's staff declare a scenario of their unit; it starts declared."""
    _check_orgs(session, body)
    policies.scenario_create(actor, body.owner_org_id)
    _check_links(session, actor, {kind: getattr(body, field) for kind, field in LINK_FIELDS.items()})
    if session.scalar(select(Scenario.id).where(Scenario.batch == body.batch, Scenario.name == body.name)):
        raise Conflict(_("This batch has a scenario of this name"), details=[{"field": "name", "message": "taken"}])
    s = Scenario(**body.model_dump(exclude=set(LINK_FIELDS.values())), status=ScenarioStatus.DECLARED,
                 proposed_by=actor.user_id)
    session.add(s)
    session.flush()
    links = [ScenarioLink(scenario_id=s.id, kind=kind, ref_id=r)
             for kind, field in LINK_FIELDS.items() for r in dict.fromkeys(getattr(body, field))]
    session.add_all(links)
    session.flush()
    snapshot.mark_stale(session)  # the 全景 screen shows it
    core.audit_record(session, actor, "scenario_create", target_type="apply_scenario", target_id=s.id,
                      org_id=s.owner_org_id, after={"name": s.name, "batch": s.batch, "status": s.status,
                                                    **{k: sum(ln.kind == kind for ln in links) for kind, k in (
                                                        (ScenarioLinkKind.COMPONENT, "components"),
                                                        (ScenarioLinkKind.CATALOG_ENTRY, "entries"),
                                                        (ScenarioLinkKind.DEVICE, "devices"),
                                                        (ScenarioLinkKind.CLOUD_RESOURCE, "cloud_resources"))}})
    return _read(s, links)


def scenario_transition(session: Session, actor: Actor, scenario_id: uuid.UUID, status: str,
                        note: str = "") -> ScenarioRead:
    """Move a scenario along `FLOW`: the bureau accepts (into building, as delivered), the owner reports it built."""
    policies.target_read(actor)
    try:
        to = ScenarioStatus(status)
    except ValueError:
        raise ValidationFailed(_("Name one of the scenario states"), field="status") from None
    s = get_or_404(session, Scenario, scenario_id, "Scenario")
    by_bureau = FLOW.get(s.status, {}).get(to)
    policies.scenario_transition(actor, s.owner_org_id, bool(by_bureau))
    before = transition(s, to, _ALLOWED, "scenario")
    session.flush()
    snapshot.mark_stale(session)  # the 全景 screen shows it
    core.audit_record(session, actor, "scenario_transition", target_type="apply_scenario", target_id=s.id,
                      org_id=s.owner_org_id, before={"status": before}, after={"status": to, "note": note})
    return _read(s, _links(session, [s.id]))


def showcase(session: Session, batch: str | None = None) -> list[ScenarioRead]:
    """The public showcase (应用场景展示): accepted scenarios only, newest year first — anyone may read it.

    No actor: what it shows is the same for everybody, and nothing declared, building or awaiting acceptance leaks.
    """
    stmt = select(Scenario).where(Scenario.status == ScenarioStatus.ACCEPTED)
    if batch:
        stmt = stmt.where(Scenario.batch == batch)
    in_plan_order = case({b.value: i for i, b in enumerate(ScenarioBatch)}, value=Scenario.batch)
    rows = list(session.scalars(stmt.order_by(in_plan_order, Scenario.year.desc(), Scenario.name).limit(500)))
    return [_read(s, ()) for s in rows]


def scenario_picture_set(session: Session, actor: Actor, scenario_id: uuid.UUID, filename: str,
                         content: bytes) -> ScenarioRead:
    """The owner unit (or the bureau) sets the showcase picture: a PNG or JPEG by its bytes (else 422 naming `file`)."""
    s = get_or_404(session, Scenario, scenario_id, "Scenario")
    policies.scenario_plan_update(actor, s.owner_org_id)
    checked = files.check(filename, content)
    if checked.content_type not in PICTURE_TYPES:
        raise ValidationFailed(_("Upload a PNG or JPEG picture"), field="file")
    before = s.picture_sha256
    s.picture_type, s.picture_sha256 = checked.content_type, checked.sha256
    session.flush()
    files.save(PICTURES, s.id, content)
    core.audit_record(session, actor, "scenario_picture_set", target_type="apply_scenario", target_id=s.id,
                      org_id=s.owner_org_id, before={"sha256": before},
                      after={"sha256": checked.sha256, "type": checked.content_type, "size": checked.size})
    return _read(s, _links(session, [s.id]))


def showcase_picture(session: Session, scenario_id: uuid.UUID) -> tuple[Path, str]:
    """An accepted scenario's picture for the public showcase; anything else (or no picture) is a 404."""
    s = session.get(Scenario, scenario_id)
    if s is None or s.status != ScenarioStatus.ACCEPTED or not s.picture_sha256:
        raise NotFound(_("Picture not found"))
    return files.path(PICTURES, s.id), s.picture_type


def summary(session: Session, actor: Actor) -> list[BatchSummary]:
    """Every batch with its scenarios per status and its delivered count (the page's chart)."""
    policies.target_read(actor)
    counts: dict[tuple[str, str], int] = {
        (b, st): n for b, st, n in session.execute(select(Scenario.batch, Scenario.status, func.count())
                                                   .group_by(Scenario.batch, Scenario.status)).tuples()}
    return [BatchSummary(batch=b, by_status={st.value: counts.get((b, st), 0) for st in ScenarioStatus},
                         delivered=sum(counts.get((b, st), 0) for st in DELIVERED)) for b in ScenarioBatch]


def delivered_count(session: Session, batch: ScenarioBatch) -> int:
    """Scenarios of a batch built or accepted (the batch target's computed progress)."""
    return int(session.scalar(select(func.count()).select_from(Scenario).where(
        Scenario.batch == batch, Scenario.status.in_(DELIVERED))) or 0)


def delivery_by_owner(session: Session, year: int) -> dict[uuid.UUID, tuple[int, int]]:
    """Per owner unit: its scenarios due by the end of `year` (their year ≤ it) and how many are delivered.

    Delivered: built or accepted. One grouped query (the annual evaluation's scenario delivery).
    """
    delivered = func.sum(case((Scenario.status.in_(DELIVERED), 1), else_=0))
    rows = session.execute(select(Scenario.owner_org_id, func.count(), delivered)
                           .where(Scenario.year <= year).group_by(Scenario.owner_org_id)).tuples()
    return {oid: (int(n), int(done or 0)) for oid, n, done in rows}


# ---------------------------------------------------------------- KPIs and budget


def _plan_editable(session: Session, actor: Actor, scenario_id: uuid.UUID) -> Scenario:
    """The scenario, if the actor may change its KPIs and budget: owner unit or bureau (403); accepted is final."""
    policies.target_read(actor)
    s = get_or_404(session, Scenario, scenario_id, "Scenario")
    policies.scenario_plan_update(actor, s.owner_org_id)
    if s.status == ScenarioStatus.ACCEPTED:
        raise Conflict(_("The scenario was accepted: its KPIs and budget are final"),
                       details=[{"field": "status", "message": str(s.status)}])
    return s


def _achieved(k: ScenarioKpi) -> float | None:
    """Actual over target (None when not measured or the target is 0)."""
    return round(k.actual / k.target, 4) if k.actual is not None and k.target else None


def scenario_kpis(session: Session, actor: Actor, scenario_id: uuid.UUID) -> list[KpiRead]:
    """A scenario's indicators in order, each with how far it got (staff read them all, as the register)."""
    policies.target_read(actor)
    get_or_404(session, Scenario, scenario_id, "Scenario")
    rows = session.scalars(select(ScenarioKpi).where(ScenarioKpi.scenario_id == scenario_id)
                           .order_by(ScenarioKpi.position))
    return [KpiRead.model_validate({**{c: getattr(k, c) for c in ("id", "position", "name", "unit", "target",
                                                                  "actual")}, "achieved": _achieved(k)})
            for k in rows]


def scenario_kpis_set(session: Session, actor: Actor, scenario_id: uuid.UUID, body: ScenarioKpisSet
                      ) -> list[KpiRead]:
    """Replace a scenario's indicators (owner unit or bureau; a repeated name is a 422 naming `kpis.<i>.name`)."""
    s = _plan_editable(session, actor, scenario_id)
    seen: set[str] = set()
    for i, k in enumerate(body.kpis):
        if k.name.strip() in seen:
            raise ValidationFailed(_("Each indicator is named once"), field=f"kpis.{i}.name")
        seen.add(k.name.strip())
    old = list(session.scalars(select(ScenarioKpi).where(ScenarioKpi.scenario_id == s.id)
                               .order_by(ScenarioKpi.position)))
    before = [{"name": row.name, "target": row.target, "actual": row.actual} for row in old]
    for row in old:
        session.delete(row)
    session.flush()
    session.add_all(ScenarioKpi(scenario_id=s.id, position=i, name=k.name.strip(), unit=k.unit.strip(),
                                target=k.target, actual=k.actual) for i, k in enumerate(body.kpis))
    session.flush()
    core.audit_record(session, actor, "scenario_kpis_set", target_type="apply_scenario", target_id=s.id,
                      org_id=s.owner_org_id, before={"kpis": before},
                      after={"kpis": [{"name": k.name, "target": k.target, "actual": k.actual} for k in body.kpis]})
    return scenario_kpis(session, actor, s.id)


def scenario_budget_set(session: Session, actor: Actor, scenario_id: uuid.UUID, body: ScenarioBudgetSet
                        ) -> ScenarioRead:
    """Set a scenario's budget, planned and spent (万元; owner unit or bureau).

    Spending beyond the plan is allowed and shown: an overrun is a fact to report, not an input error.
    """
    s = _plan_editable(session, actor, scenario_id)
    before = {"budget_planned": s.budget_planned, "budget_spent": s.budget_spent}
    s.budget_planned, s.budget_spent = body.budget_planned, body.budget_spent
    session.flush()
    core.audit_record(session, actor, "scenario_budget_set", target_type="apply_scenario", target_id=s.id,
                      org_id=s.owner_org_id, before=before,
                      after={"budget_planned": s.budget_planned, "budget_spent": s.budget_spent})
    return _read(s, _links(session, [s.id]))


# ---------------------------------------------------------------- what a scenario uses, after its declaration


def scenario_links_set(session: Session, actor: Actor, scenario_id: uuid.UUID, body: ScenarioLinksSet
                       ) -> ScenarioRead:
    """Replace what a scenario uses, kind by kind (its owner unit's staff or the bureau), until it is accepted (409).

    An id newly named must be one the editor can see through its layer (else a 422 naming the field); an id already
    linked stays without a new check, so the owner keeps a link the bureau made to another unit's object. The audit
    row names what was added and removed per kind.
    """
    policies.target_read(actor)
    s = get_or_404(session, Scenario, scenario_id, "Scenario")
    policies.scenario_links_set(actor, s.owner_org_id)
    if s.status == ScenarioStatus.ACCEPTED:
        raise Conflict(_("The scenario was accepted: what it uses is final"),
                       details=[{"field": "status", "message": str(s.status)}])
    old = _links(session, [s.id])
    have = {kind: [ln.ref_id for ln in old if ln.kind == kind] for kind in LINK_FIELDS}
    wanted = {kind: list(dict.fromkeys(getattr(body, field))) for kind, field in LINK_FIELDS.items()
              if getattr(body, field) is not None}
    _check_links(session, actor, {kind: [r for r in ids if r not in have[kind]] for kind, ids in wanted.items()})
    before: dict[str, list[str]] = {}
    after: dict[str, list[str]] = {}
    for kind, ids in wanted.items():
        gone = [ln for ln in old if ln.kind == kind and ln.ref_id not in ids]
        new = [r for r in ids if r not in have[kind]]
        for ln in gone:
            session.delete(ln)
        session.add_all(ScenarioLink(scenario_id=s.id, kind=kind, ref_id=r) for r in new)
        if gone or new:
            before[LINK_FIELDS[kind]] = [str(r) for r in have[kind]]
            after[LINK_FIELDS[kind]] = [str(r) for r in ids]
    session.flush()
    if after:
        snapshot.mark_stale(session)
    core.audit_record(session, actor, "scenario_links_set", target_type="apply_scenario", target_id=s.id,
                      org_id=s.owner_org_id, before=before, after=after)
    return _read(s, _links(session, [s.id]))
