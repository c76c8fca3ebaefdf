"""Provider accounts, regions, pools and the service catalog; adapters built from an account; the reconciler.

Credentials are Fernet-encrypted with a key derived from `settings.secret_key` and decrypted only in memory when an
adapter is built (`provider_for`); provider endpoints go through the egress rule when registered and when used.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import uuid
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.cloud import plugins, policies
from cityhub.cloud.models import (
    HOLDING,
    CatalogItem,
    Finding,
    Pool,
    ProviderAccount,
    Region,
    Resource,
    ResourceStatus,
    Tenancy,
)
from cityhub.cloud.plugins import CloudProvider, ProviderError
from cityhub.cloud.schemas import CatalogItemCreate, PoolCreate, PoolUpdate, ProviderAccountCreate, RegionCreate
from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.kit import clock, egress
from cityhub.kit.db import get_or_404
from cityhub.kit.errors import Conflict, ServiceUnavailable, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

log = logging.getLogger("cityhub.cloud")

_ENDPOINT_KEYS = ("endpoint", "auth_url")  # account config values the adapters connect to
_POOL_FIELDS = ("security_level", "price_factor", "vcpus_total", "ram_mb_total", "disk_gb_total", "storage_gb_total")


# ---------------------------------------------------------------- credentials and adapters


def _fernet() -> Fernet:
    key = hashlib.sha256(b"cityhub-cloud-credentials:" + get_settings().secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_credentials(creds: dict[str, str]) -> str:
    """Fernet token of the credentials (key derived from settings.secret_key)."""
    return _fernet().encrypt(json.dumps(creds).encode()).decode() if creds else ""


def _decrypt(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))  # type: ignore[no-any-return]  # our own JSON object
    except InvalidToken as exc:
        raise ServiceUnavailable(_("Stored provider credentials cannot be decrypted (was the secret key changed?)"
                                   )) from exc


def _check_endpoints(config: dict[str, Any]) -> None:
    """Provider endpoints go through the egress rule: no internal address unless allow-listed (422 naming it).

    Libcloud makes its own connections, so they are not pinned like kit.egress.client's: the check runs when the
    account is registered and again every time an adapter is built for it.
    """
    for key in _ENDPOINT_KEYS:
        if config.get(key):
            egress.check_url(str(config[key]), field=f"config.{key}")


def provider_for(session: Session, account: ProviderAccount) -> CloudProvider:
    """The adapter of an account (credentials decrypted only here, in memory)."""
    config = {"name": account.name, **(account.config or {})}
    try:
        _check_endpoints(config)
    except egress.EgressDenied as exc:
        log.warning("provider account %s: endpoint refused by the egress rule: %s", account.name, exc.details)
        raise ServiceUnavailable(_("Provider is not usable: its endpoint may not be called")) from exc
    try:
        return plugins.build(account.kind, config, _decrypt(account.credentials_enc))
    except ProviderError as exc:  # the driver's words (host names, endpoints) go to the log, not to the caller
        log.warning("provider account %s is not usable: %s", account.name, exc)
        raise ServiceUnavailable(_("Provider is not usable; the reason is in the log")) from exc


def provider_of(session: Session, account_id: uuid.UUID) -> CloudProvider:
    """The adapter of the account with this id (for the jobs and the metering of the resources it holds)."""
    return provider_for(session, get_or_404(session, ProviderAccount, account_id, "Provider account"))


# ---------------------------------------------------------------- accounts, regions, pools, catalog


def provider_account_create(session: Session, actor: Actor, data: ProviderAccountCreate) -> ProviderAccount:
    """Register a provider account; credentials are encrypted before they touch the database."""
    policies.provider_account_create(actor)
    if session.scalar(select(ProviderAccount.id).where(ProviderAccount.name == data.name)):
        raise Conflict(_("A provider account with this name exists"), details={"field": "name"})
    _check_endpoints(data.config)
    acc = ProviderAccount(name=data.name, kind=data.kind.value, config=data.config,
                          credentials_enc=encrypt_credentials(data.credentials))
    session.add(acc)
    session.flush()
    try:
        plugins.build(acc.kind, {"name": acc.name, **acc.config}, data.credentials)
    except ProviderError as exc:
        raise ValidationFailed(str(exc), field="config") from exc
    core.audit_record(session, actor, "provider_account_create", target_type="cloud_provider", target_id=acc.id,
                      after={"name": acc.name, "kind": acc.kind, "config": acc.config,
                             "credentials": sorted(data.credentials)})
    return acc


def provider_account_list(session: Session, actor: Actor) -> list[ProviderAccount]:
    """Every provider account."""
    policies.platform_read(actor)
    return list(session.scalars(select(ProviderAccount).order_by(ProviderAccount.name)))


def provider_account_get(session: Session, actor: Actor, account_id: uuid.UUID) -> ProviderAccount:
    """One account."""
    policies.platform_read(actor)
    return get_or_404(session, ProviderAccount, account_id, "Provider account")


def region_create(session: Session, actor: Actor, data: RegionCreate) -> Region:
    """Add a region to an account."""
    policies.region_create(actor)
    if session.get(ProviderAccount, data.account_id) is None:
        raise ValidationFailed(_("Provider account not found"), field="account_id")
    if session.scalar(select(Region.id).where(Region.account_id == data.account_id, Region.code == data.code)):
        raise Conflict(_("This region exists"), details={"field": "code"})
    region = Region(**data.model_dump())
    session.add(region)
    session.flush()
    core.audit_record(session, actor, "region_create", target_type="cloud_region", target_id=region.id,
                      after=data.model_dump())
    return region


def region_list(session: Session, actor: Actor) -> list[Region]:
    """Every region."""
    policies.platform_read(actor)
    return list(session.scalars(select(Region).order_by(Region.code)))


def pool_create(session: Session, actor: Actor, data: PoolCreate) -> Pool:
    """Add a resource pool."""
    policies.pool_create(actor)
    if session.get(Region, data.region_id) is None:
        raise ValidationFailed(_("Region not found"), field="region_id")
    if session.scalar(select(Pool.id).where(Pool.name == data.name)):
        raise Conflict(_("A pool with this name exists"), details={"field": "name"})
    pool = Pool(**data.model_dump())
    session.add(pool)
    session.flush()
    core.audit_record(session, actor, "pool_create", target_type="cloud_pool", target_id=pool.id,
                      after=data.model_dump())
    return pool


def pool_update(session: Session, actor: Actor, pool_id: uuid.UUID, data: PoolUpdate) -> Pool:
    """Change a pool (capacity never below what is allocated)."""
    policies.pool_update(actor)
    pool = get_or_404(session, Pool, pool_id, "Pool")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for dim in ("vcpus", "ram_mb", "disk_gb", "storage_gb"):
        if f"{dim}_total" in changes and changes[f"{dim}_total"] < getattr(pool, f"{dim}_used"):
            raise Conflict(_("Capacity below what is allocated"), details={"field": f"{dim}_total"})
    with core.audited(session, actor, "pool_update", pool, _POOL_FIELDS, target_type="cloud_pool"):
        for k, v in changes.items():
            setattr(pool, k, v)
    return pool


def pool_list(session: Session, actor: Actor) -> list[Pool]:
    """Every pool."""
    policies.platform_read(actor)
    return list(session.scalars(select(Pool).order_by(Pool.name)))


def catalog_item_create(session: Session, actor: Actor, data: CatalogItemCreate) -> CatalogItem:
    """Add an orderable item to the 云服务清单."""
    policies.catalog_item_create(actor)
    if session.scalar(select(CatalogItem.id).where(CatalogItem.code == data.code)):
        raise Conflict(_("A catalog item with this code exists"), details={"field": "code"})
    if data.kind == "compute" and (not data.vcpus or not data.size_id):
        raise ValidationFailed(_("A compute item needs vcpus and size_id"), field="vcpus")
    if data.kind == "storage" and not data.storage_gb:
        raise ValidationFailed(_("A storage item needs storage_gb"), field="storage_gb")
    item = CatalogItem(**data.model_dump())
    session.add(item)
    session.flush()
    core.audit_record(session, actor, "catalog_item_create", target_type="cloud_catalog_item", target_id=item.id,
                      after=data.model_dump())
    return item


def catalog_list(session: Session, actor: Actor) -> list[CatalogItem]:
    """The service catalog."""
    policies.platform_read(actor)
    return list(session.scalars(select(CatalogItem).where(CatalogItem.active).order_by(CatalogItem.code)))


# ---------------------------------------------------------------- reconciler


def reconcile(session: Session, actor: Actor, account_id: uuid.UUID) -> list[Finding]:
    """Compare what the provider reports with what cityhub believes; replace the account's open findings."""
    policies.provider_reconcile(actor)
    account = get_or_404(session, ProviderAccount, account_id, "Provider account")
    prov = provider_for(session, account)
    try:
        reported = {n.external_id: n for n in prov.nodes()}
    except ProviderError as exc:
        log.warning("provider account %s did not answer: %s", account.name, exc)
        raise ServiceUnavailable(_("The provider did not answer; the reason is in the log")) from exc
    ours = list(session.scalars(select(Resource).where(Resource.account_id == account.id, Resource.kind == "node",
                                                       Resource.status.in_(HOLDING))))
    known = {r.external_id for r in ours if r.external_id}
    now = clock.now()
    for f in session.scalars(select(Finding).where(Finding.account_id == account.id, Finding.open)):
        f.open = False
    found: list[Finding] = []
    for ext, node in reported.items():
        if ext not in known:
            found.append(Finding(account_id=account.id, kind="orphan", external_id=ext, found_at=now,
                                 detail=f"node {node.name} ({node.state}) is not known to cityhub"))
    for res in ours:
        if not res.external_id:
            continue
        rep = reported.get(res.external_id)
        if rep is None:
            found.append(Finding(account_id=account.id, resource_id=res.id, kind="missing",
                                 external_id=res.external_id, found_at=now,
                                 detail=f"{res.name} is {res.status} in cityhub but absent at the provider"))
        elif (res.status == ResourceStatus.ACTIVE) != (rep.state == "running"):
            found.append(Finding(account_id=account.id, resource_id=res.id, kind="drift",
                                 external_id=res.external_id, found_at=now,
                                 detail=f"{res.name}: cityhub {res.status}, provider {rep.state}"))
    session.add_all(found)
    account.last_reconciled_at = now
    session.flush()
    core.audit_record(session, actor, "provider_reconcile", target_type="cloud_provider", target_id=account.id,
                      extra={"findings": len(found)})
    return found


def finding_list(session: Session, actor: Actor, account_id: uuid.UUID | None = None,
                 open_only: bool = True) -> list[Finding]:
    """Reconciler findings."""
    policies.platform_inspect(actor)
    stmt = select(Finding).order_by(Finding.found_at.desc(), Finding.kind).limit(1000)
    if account_id:
        stmt = stmt.where(Finding.account_id == account_id)
    if open_only:
        stmt = stmt.where(Finding.open)
    return list(session.scalars(stmt))


# ---------------------------------------------------------------- counts for the capacity page


def overview(session: Session, actor: Actor) -> dict[str, Any]:
    """Headline numbers for the cloud home page."""
    policies.platform_read(actor)
    pools = pool_list(session, actor)
    return {
        "providers": session.scalar(select(func.count()).select_from(ProviderAccount)) or 0,
        "pools": len(pools),
        "vcpus_total": sum(p.vcpus_total for p in pools),
        "vcpus_used": sum(p.vcpus_used for p in pools),
        "tenancies": session.scalar(select(func.count()).select_from(Tenancy)) or 0,
        "nodes": session.scalar(select(func.count()).where(Resource.kind == "node",
                                                           Resource.status == ResourceStatus.ACTIVE)) or 0,
    }


def pools_by_provider(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Capacity and allocation per provider account (for charts)."""
    policies.platform_read(actor)
    stmt = (select(ProviderAccount.name, func.sum(Pool.vcpus_total), func.sum(Pool.vcpus_used),
                   func.sum(Pool.ram_mb_total), func.sum(Pool.ram_mb_used))
            .join(Region, Region.account_id == ProviderAccount.id).join(Pool, Pool.region_id == Region.id)
            .group_by(ProviderAccount.name).order_by(ProviderAccount.name))
    return [{"provider": n, "vcpus_total": int(a or 0), "vcpus_used": int(b or 0), "ram_mb_total": int(c or 0),
             "ram_mb_used": int(d or 0)} for n, a, b, c, d in session.execute(stmt).all()]

