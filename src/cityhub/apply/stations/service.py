"""The network registers (联): 5G base stations, and backbone / interconnect links.

Base stations by carrier (telecom operator) and district (CSV import, density per district); links whose capacities and
direct-connect cities feed the plan's network targets (`link_totals`).

The bureau keeps the register; every member of staff reads it. An import validates **every** row first and writes
only when none is wrong: a bad file answers 422 with each problem as `{"row", "field", "message"}` (row 2 is the
first data row, as a spreadsheet numbers it) and the register is as it was. A row whose carrier and site code
are already registered updates that station (operators send their full return each quarter). Stations **in
service** count towards the plan's 30,000 new base stations (`connect.base_stations_active`).
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.apply import policies, reference
from cityhub.apply.models import BaseStation, LinkKind, NetworkLink, StationStatus
from cityhub.apply.panorama import snapshot
from cityhub.apply.schemas import DistrictDensity, ImportResult, LinkCreate, StationCreate
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import labels
from cityhub.kit.errors import Conflict, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate

DISTRICT_KINDS = ("district", "county", "new_area")
COLUMNS = ("carrier", "site_code", "district", "address", "lon", "lat", "band", "status", "commissioned_on")
MAX_ROWS = 50_000
labels.register("apply.carrier", {"cmcc": "China Mobile", "cucc": "China Unicom", "ctcc": "China Telecom",
                                   "cbn": "China Broadnet"})


def _districts(session: Session) -> dict[str, uuid.UUID]:
    """District lookup by id, code and name (the CSV names a district either way)."""
    out: dict[str, uuid.UUID] = {}
    for o in core.organization_all(session):
        if o.kind in DISTRICT_KINDS:
            out[str(o.id)] = out[o.code] = out[o.name] = o.id
    return out


def _problems(body: StationCreate, districts: dict[str, uuid.UUID]) -> list[tuple[str, str]]:
    out = []
    if body.carrier not in reference.CARRIERS:
        out.append(("carrier", _("Name one of the operators: %s") % ", ".join(reference.CARRIERS)))
    if body.band not in reference.BANDS:
        out.append(("band", _("Name one of the 5G bands: %s") % ", ".join(reference.BANDS)))
    if str(body.district_org_id) not in districts:
        out.append(("district_org_id", _("Name a district or county")))
    return out


def station_list(session: Session, actor: Actor, page: PageParams, *, district_org_id: uuid.UUID | None = None,
                 status: str | None = None, carrier: str | None = None) -> tuple[list[BaseStation], int]:
    """The register, filtered (every member of staff reads it)."""
    policies.target_read(actor)
    stmt = select(BaseStation)
    if district_org_id:
        stmt = stmt.where(BaseStation.district_org_id == district_org_id)
    if status:
        stmt = stmt.where(BaseStation.status == status)
    if carrier:
        stmt = stmt.where(BaseStation.carrier == carrier)
    return paginate(session, stmt.order_by(BaseStation.carrier, BaseStation.site_code), page)


def base_station_create(session: Session, actor: Actor, body: StationCreate) -> BaseStation:
    """The bureau registers one station."""
    policies.base_station_create(actor)
    problems = _problems(body, _districts(session))
    if problems:
        raise ValidationFailed(problems[0][1], details=[{"field": f, "message": m} for f, m in problems])
    if session.scalar(select(BaseStation.id).where(BaseStation.carrier == body.carrier,
                                                   BaseStation.site_code == body.site_code)) is not None:
        raise Conflict(_("This operator's site is registered"), details=[{"field": "site_code", "message": "taken"}])
    st = BaseStation(**body.model_dump())
    session.add(st)
    session.flush()
    snapshot.mark_stale(session)  # the 全景 screen shows it
    core.audit_record(session, actor, "base_station_create", target_type="apply_base_station", target_id=st.id,
                      org_id=st.district_org_id, after={"carrier": st.carrier, "site_code": st.site_code,
                                                        "status": st.status})
    return st


def _row(raw: dict[str, Any], districts: dict[str, uuid.UUID]) -> tuple[StationCreate | None, list[tuple[str, str]]]:
    values: dict[str, Any] = {k: (raw.get(k) or "").strip() for k in COLUMNS}
    district = values.pop("district")
    values["district_org_id"] = districts.get(district, uuid.UUID(int=0))
    for k in ("lon", "lat", "commissioned_on"):
        if values[k] == "":
            values[k] = None
    if not values["status"]:
        values["status"] = StationStatus.PLANNED
    problems: list[tuple[str, str]] = []
    if district not in districts:
        problems.append(("district", _("Name a district or county")))
    if values["status"] == StationStatus.ACTIVE and values["commissioned_on"] is None:  # checked with the rest
        problems.append(("commissioned_on", _("A station in service has a commissioning date")))
    try:
        body = StationCreate(**values)
    except ValidationError as e:
        for err in e.errors():
            loc = str(err["loc"][0]) if err["loc"] else ""
            msg = str(err["msg"])
            if not loc and ":" in msg:  # the model's own check names its field first
                loc, msg = msg.split(":", 1)[0].removeprefix("Value error, "), msg.split(":", 1)[1].strip()
            problem = ("district" if loc == "district_org_id" else loc, msg)
            if problem[0] not in {p[0] for p in problems}:
                problems.append(problem)
        return None, problems
    problems += [(f, m) for f, m in _problems(body, districts) if f != "district_org_id"]
    return body, problems


def base_station_import(session: Session, actor: Actor, content: bytes) -> ImportResult:
    """Import an operator's return (CSV, UTF-8, header `carrier,site_code,district,…`): all rows or none."""
    policies.base_station_import(actor)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(_("The file is not UTF-8 text"), field="file") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationFailed(_("Columns missing: %s") % ", ".join(missing), field="file")
    districts = _districts(session)
    errors: list[dict[str, Any]] = []
    rows: list[StationCreate] = []
    seen: dict[tuple[str, str], int] = {}
    for n, raw in enumerate(reader, start=2):
        if n - 1 > MAX_ROWS:
            raise ValidationFailed(_("At most %d rows per file") % MAX_ROWS, field="file")
        body, problems = _row(raw, districts)
        if body is not None:
            key = (body.carrier, body.site_code)
            if key in seen:
                problems.append(("site_code", _("Repeats row %d") % seen[key]))
            seen[key] = n
        errors += [{"row": n, "field": f, "message": m} for f, m in problems]
        if body is not None and not problems:
            rows.append(body)
    if errors:
        raise ValidationFailed(_("%d problems in the file: nothing was imported") % len(errors), details=errors[:500])
    if not rows:
        raise ValidationFailed(_("The file has no rows"), field="file")
    have = {(s.carrier, s.site_code): s for s in session.scalars(select(BaseStation))}
    out = ImportResult()
    for body in rows:
        st = have.get((body.carrier, body.site_code))
        if st is None:
            session.add(BaseStation(**body.model_dump()))
            out.created += 1
        else:
            for k, v in body.model_dump().items():
                setattr(st, k, v)
            out.updated += 1
    session.flush()
    snapshot.mark_stale(session)  # the 全景 screen shows it
    core.audit_record(session, actor, "base_station_import", target_type="apply_base_station", target_id="import",
                      extra={"created": out.created, "updated": out.updated})
    return out


def active_count(session: Session) -> int:
    """Stations in service (the 5G target's computed progress)."""
    return int(session.scalar(select(func.count()).select_from(BaseStation)
                              .where(BaseStation.status == StationStatus.ACTIVE)) or 0)


def density(session: Session, actor: Actor) -> list[DistrictDensity]:
    """Stations in service and in the register per district (every district, zero included)."""
    policies.target_read(actor)
    counts: dict[uuid.UUID, list[int]] = {}
    for oid, status, n in session.execute(select(BaseStation.district_org_id, BaseStation.status, func.count())
                                          .group_by(BaseStation.district_org_id, BaseStation.status)).tuples():
        c = counts.setdefault(oid, [0, 0])
        c[1] += n
        if status == StationStatus.ACTIVE:
            c[0] += n
    return [DistrictDensity(org_id=o.id, name=o.name, active=counts.get(o.id, [0, 0])[0],
                            total=counts.get(o.id, [0, 0])[1])
            for o in core.organization_all(session) if o.kind in DISTRICT_KINDS]



# ---------------------------------------------------------------- backbone and interconnect links


def link_list(session: Session, actor: Actor) -> list[NetworkLink]:
    """Every link, by kind and name (every member of staff reads them)."""
    policies.target_read(actor)
    return list(session.scalars(select(NetworkLink).order_by(NetworkLink.kind, NetworkLink.name)))


def network_link_create(session: Session, actor: Actor, body: LinkCreate) -> NetworkLink:
    """The bureau registers a link."""
    policies.network_link_create(actor)
    if session.scalar(select(NetworkLink.id).where(NetworkLink.name == body.name)) is not None:
        raise Conflict(_("A link with this name exists"), details=[{"field": "name", "message": "taken"}])
    link = NetworkLink(**body.model_dump())
    session.add(link)
    session.flush()
    snapshot.mark_stale(session)  # the 全景 screen shows it
    core.audit_record(session, actor, "network_link_create", target_type="apply_network_link", target_id=link.id,
                      after={"name": link.name, "kind": link.kind, "capacity_gbps": link.capacity_gbps,
                             "status": link.status})
    return link


def link_totals(session: Session) -> dict[str, float]:
    """Links in service: backbone egress (Tbps), interconnect (G), distinct direct-connect cities (the targets)."""
    rows = session.execute(select(NetworkLink.kind, NetworkLink.capacity_gbps, NetworkLink.endpoint_b)
                           .where(NetworkLink.status == StationStatus.ACTIVE)).tuples().all()
    return {"backbone_egress_tbps": round(sum(c for k, c, _b in rows if k == LinkKind.BACKBONE_EGRESS) / 1000, 3),
            "interconnect_g": round(sum(c for k, c, _b in rows if k == LinkKind.INTERCONNECT), 1),
            "direct_cities": float(len({b for k, _c, b in rows if k == LinkKind.DIRECT_CITY}))}
