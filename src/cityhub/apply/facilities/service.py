"""The data-channel and data-centre registers (联, 云).

Who uses the 中新 international data channel, and where the city's servers stand.

The bureau keeps both (`apply.manage`); every member of staff reads them; each write is audited
(`channel_user_create`, `data_centre_create`). A data centre names the cloud pools it hosts; each pool id goes
through the cloud façade (`cloud.pool_list`), so an unknown pool is a 422 naming `pool_ids`, and a pool is hosted in
one data centre only (409).

**Invariant: the targets these registers feed are computed, never typed in.** `connect.channel_users` counts users
**in service** (`connect.channel_users_active`); `cloud.liangjiang_servers` sums the servers of data centres in
service at the 两江 cloud park (`cloud.liangjiang_servers`). The channel's own bandwidth (+1,000 M) stays reported
by its owner: the users' circuits are what they subscribe, not the channel's international capacity.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.apply import policies, reference
from cityhub.apply.facilities.schemas import ChannelUserCreate, DataCentreCreate, FacilityTotals
from cityhub.apply.facilities.schemas import DataCentre as DataCentreRead
from cityhub.apply.models import ChannelUser, DataCentre, DataCentrePool, StationStatus
from cityhub.apply.panorama import snapshot
from cityhub.cloud import service as cloud
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit.errors import Conflict, ValidationFailed
from cityhub.kit.i18n import gettext as _

DISTRICT_KINDS = ("district", "county", "new_area")
CHANNEL_SECTORS = reference.CHANNEL_SECTORS


def _district_problem(session: Session, org_id: uuid.UUID | None) -> list[tuple[str, str]]:
    if org_id is None or org_id in {o.id for o in core.organization_all(session) if o.kind in DISTRICT_KINDS}:
        return []
    return [("district_org_id", _("Name a district or county"))]


def _refuse(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise ValidationFailed(problems[0][1], details=[{"field": f, "message": m} for f, m in problems])


def channel_user_list(session: Session, actor: Actor) -> list[ChannelUser]:
    """Every channel user, by name (every member of staff reads the register)."""
    policies.target_read(actor)
    return list(session.scalars(select(ChannelUser).order_by(ChannelUser.name)))


def channel_user_create(session: Session, actor: Actor, body: ChannelUserCreate) -> ChannelUser:
    """The bureau registers a user of the international data channel."""
    policies.channel_user_create(actor)
    problems = _district_problem(session, body.district_org_id)
    if body.sector not in reference.CHANNEL_SECTORS:
        problems.append(("sector", _("Name one of the sectors: %s") % ", ".join(reference.CHANNEL_SECTORS)))
    _refuse(problems)
    if session.scalar(select(ChannelUser.id).where(ChannelUser.name == body.name)) is not None:
        raise Conflict(_("A channel user with this name is registered"),
                       details=[{"field": "name", "message": "taken"}])
    user = ChannelUser(**body.model_dump())
    session.add(user)
    session.flush()
    snapshot.mark_stale(session)  # the 全景 screen shows it
    core.audit_record(session, actor, "channel_user_create", target_type="apply_channel_user", target_id=user.id,
                      after={"name": user.name, "bandwidth_mbps": user.bandwidth_mbps, "status": user.status})
    return user


def _read(dc: DataCentre, pools: dict[uuid.UUID, str], hosted: dict[uuid.UUID, list[uuid.UUID]]) -> DataCentreRead:
    row: dict[str, Any] = {c: getattr(dc, c) for c in DataCentreRead.model_fields if c != "pools"}
    row["pools"] = [{"id": p, "name": pools.get(p, "")} for p in hosted.get(dc.id, [])]
    return DataCentreRead.model_validate(row)


def data_centre_list(session: Session, actor: Actor) -> list[DataCentreRead]:
    """Every data centre with the cloud pools it hosts."""
    policies.target_read(actor)
    pools = {p.id: p.name for p in cloud.pool_list(session, actor)}
    hosted: dict[uuid.UUID, list[uuid.UUID]] = {}
    for dc_id, pool_id in session.execute(select(DataCentrePool.data_centre_id, DataCentrePool.pool_id)).tuples():
        hosted.setdefault(dc_id, []).append(pool_id)
    return [_read(dc, pools, hosted) for dc in session.scalars(select(DataCentre).order_by(DataCentre.code))]


def data_centre_create(session: Session, actor: Actor, body: DataCentreCreate) -> DataCentreRead:
    """The bureau registers a data centre and the cloud pools it hosts."""
    policies.data_centre_create(actor)
    problems = _district_problem(session, body.district_org_id)
    if body.tier not in reference.DC_TIERS:
        problems.append(("tier", _("Name one of the classes: %s") % ", ".join(reference.DC_TIERS)))
    if body.role not in reference.DC_ROLES:
        problems.append(("role", _("Name one of the roles: %s") % ", ".join(reference.DC_ROLES)))
    pools = {p.id: p.name for p in cloud.pool_list(session, actor)}
    if any(p not in pools for p in body.pool_ids):
        problems.append(("pool_ids", _("Name registered cloud pools")))
    _refuse(problems)
    if session.scalar(select(DataCentre.id).where((DataCentre.code == body.code) | (DataCentre.name == body.name))):
        raise Conflict(_("A data centre with this code or name exists"),
                       details=[{"field": "code", "message": "taken"}])
    pool_ids = list(dict.fromkeys(body.pool_ids))
    if pool_ids and session.scalar(select(DataCentrePool.id).where(DataCentrePool.pool_id.in_(pool_ids))):
        raise Conflict(_("A cloud pool is hosted in one data centre only"),
                       details=[{"field": "pool_ids", "message": "taken"}])
    dc = DataCentre(**body.model_dump(exclude={"pool_ids"}))
    session.add(dc)
    session.flush()
    session.add_all(DataCentrePool(data_centre_id=dc.id, pool_id=p) for p in pool_ids)
    session.flush()
    snapshot.mark_stale(session)  # the 全景 screen shows it
    core.audit_record(session, actor, "data_centre_create", target_type="apply_data_centre", target_id=dc.id,
                      after={"code": dc.code, "name": dc.name, "servers": dc.servers, "status": dc.status,
                             "liangjiang_park": dc.liangjiang_park, "pools": [str(p) for p in pool_ids]})
    return _read(dc, pools, {dc.id: pool_ids})


def totals(session: Session) -> FacilityTotals:
    """What the registers add up to, in service (the computed targets' figures; city-wide counts)."""
    active = StationStatus.ACTIVE
    users, bandwidth = session.execute(select(func.count(), func.coalesce(func.sum(ChannelUser.bandwidth_mbps), 0.0))
                                       .where(ChannelUser.status == active)).one()
    dcs, servers, racks, pue = session.execute(
        select(func.count(), func.coalesce(func.sum(DataCentre.servers), 0),
               func.coalesce(func.sum(DataCentre.racks), 0),
               func.avg(DataCentre.pue)).where(DataCentre.status == active)).one()
    lj = session.scalar(select(func.coalesce(func.sum(DataCentre.servers), 0))
                        .where(DataCentre.status == active, DataCentre.liangjiang_park.is_(True)))
    return FacilityTotals(channel_users_active=int(users), channel_bandwidth_mbps=round(float(bandwidth), 1),
                          data_centres_active=int(dcs), servers_active=int(servers), racks_active=int(racks),
                          liangjiang_servers=int(lj or 0), pue_mean=round(float(pue), 3) if pue is not None else None)


def facility_totals(session: Session, actor: Actor) -> FacilityTotals:
    """The registers' totals, for staff."""
    policies.target_read(actor)
    return totals(session)
