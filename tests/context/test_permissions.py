"""Who sees and changes which entity: owner unit, grants to other units, public grants, tenants, audit."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from cityhub.context import service as context
from cityhub.context.jsonld import core
from cityhub.context.schemas import GrantCreate
from cityhub.core.models import AuditEntry
from cityhub.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.context.helpers import E, entity_body, headers


def _ids(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return sorted(e["id"] for e in resp.json())


def _seed(client: Any, world: Any) -> None:
    a, b = headers(world, "org_member_a"), headers(world, "org_member_b")
    assert client.post(E, json=entity_body("urn:a:air"), headers=a).status_code == 201
    assert client.post(E, json={"id": "urn:a:park", "type": "Parking", "free": 3}, headers=a).status_code == 201
    assert client.post(E, json={"id": "urn:b:park", "type": "Parking", "free": 1}, headers=b).status_code == 201


def test_owner_controls_others_read_through_grants(client: Any, world: Any) -> None:
    _seed(client, world)
    w = world
    q = {"type": "AirQualityObserved,Parking"}
    assert _ids(client.get(E, params=q, headers=headers(w, "org_member_a"))) == ["urn:a:air", "urn:a:park"]
    assert _ids(client.get(E, params=q, headers=headers(w, "org_member_b"))) == ["urn:b:park"]
    assert _ids(client.get(E, params=q, headers=headers(w, "auditor"))) == ["urn:a:air", "urn:a:park", "urn:b:park"]
    assert _ids(client.get(E, params=q)) == []  # anonymous: nothing is public yet
    assert client.get(f"{E}/urn:a:park", headers=headers(w, "org_member_b")).status_code == 404
    # A grants B reads of its Parking entities
    admin_a = w.actors["org_admin_a"]
    grant = context.grant_create(w.session, admin_a, GrantCreate(
        owner_org_id=w.orgs["dept_a"].id, grantee_org_id=w.orgs["dept_b"].id, entity_type="Parking"))
    assert _ids(client.get(E, params=q, headers=headers(w, "org_member_b"))) == ["urn:a:park", "urn:b:park"]
    assert client.get(f"{E}/urn:a:air", headers=headers(w, "org_member_b")).status_code == 404
    # reading is not writing: B gets a 403 on A's granted entity
    resp = client.patch(f"{E}/urn:a:park/attrs", json={"free": 0}, headers=headers(w, "org_member_b"))
    assert resp.status_code == 403 and resp.json()["type"].endswith("/Forbidden")
    # a public grant lets anonymous callers read
    context.grant_create(w.session, admin_a, GrantCreate(owner_org_id=w.orgs["dept_a"].id,
                                                         entity_type="AirQualityObserved"))
    assert _ids(client.get(E, params=q)) == ["urn:a:air"]
    assert client.get(f"{E}/urn:a:air").status_code == 200
    assert client.delete(f"{E}/urn:a:air").status_code == 401
    context.grant_delete(w.session, admin_a, grant.id)
    assert _ids(client.get(E, params=q, headers=headers(w, "org_member_b"))) == ["urn:a:air", "urn:b:park"]
    types = client.get("/ngsi-ld/v1/types").json()["typeList"]
    assert types == ["AirQualityObserved"]  # /types shows only what the caller sees


def test_grants_are_the_owner_admins(world: Any) -> None:
    w = world
    data = GrantCreate(owner_org_id=w.orgs["dept_a"].id, grantee_org_id=w.orgs["dept_b"].id)
    with pytest.raises(Forbidden):
        context.grant_create(w.session, w.actors["org_member_a"], data)
    with pytest.raises(Forbidden):
        context.grant_create(w.session, w.actors["org_admin_a"], GrantCreate(owner_org_id=w.orgs["dept_b"].id))
    grant = context.grant_create(w.session, w.actors["org_admin_a"], data)
    assert grant.entity_type == ""
    with pytest.raises(Conflict):
        context.grant_create(w.session, w.actors["org_admin_a"], data)
    with pytest.raises(ValidationFailed):
        context.grant_create(w.session, w.actors["org_admin_a"], GrantCreate(
            owner_org_id=w.orgs["dept_a"].id, entity_type="bad name"))
    typed = context.grant_create(w.session, w.actors["org_admin_a"], GrantCreate(
        owner_org_id=w.orgs["dept_a"].id, entity_type="Parking"))
    assert typed.entity_type == "https://uri.etsi.org/ngsi-ld/default-context/Parking"
    assert [g.id for g in context.grant_list(w.session, w.actors["org_member_b"])] == [grant.id]
    with pytest.raises(NotFound):
        context.grant_delete(w.session, w.actors["district_admin"], grant.id)
    with pytest.raises(Forbidden):
        context.grant_delete(w.session, w.actors["org_member_b"], grant.id)
    context.grant_delete(w.session, w.actors["org_admin_a"], grant.id)
    actions = w.session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("context_grant_%"))).all()
    assert sorted(actions) == ["context_grant_create", "context_grant_create", "context_grant_delete"]


def test_tenants_name_the_owning_organisation(client: Any, world: Any) -> None:
    w = world
    admin = headers(w, "platform_admin")
    body = {"id": "urn:t:1", "type": "Parking", "free": 1}
    resp = client.post(E, json=body, headers={**admin, "NGSILD-Tenant": "t-dept-b"})
    assert resp.status_code == 201
    assert client.get(f"{E}/urn:t:1", headers=headers(w, "org_member_b")).status_code == 200
    assert client.get(f"{E}/urn:t:1", headers={**admin, "NGSILD-Tenant": "t-dept-a"}).status_code == 404
    resp = client.get(f"{E}/urn:t:1", headers={**admin, "NGSILD-Tenant": "nowhere"})
    assert resp.status_code == 404 and resp.json()["type"].endswith("/NonexistentTenant")
    # a unit's staff cannot write into another unit's tenant
    resp = client.post(E, json={**body, "id": "urn:t:2"}, headers={**headers(w, "org_member_a"),
                                                                   "NGSILD-Tenant": "t-dept-b"})
    assert resp.status_code == 403
    # those who read every unit do not write
    resp = client.post(E, json={**body, "id": "urn:t:3"}, headers=headers(w, "auditor"))
    assert resp.status_code == 403
    assert client.post(E, json={**body, "id": "urn:t:4"}).status_code == 401


def test_every_write_is_audited(world: Any) -> None:
    w = world
    member, ctx = w.actors["org_member_a"], core()
    context.entity_create(w.session, member, entity_body("urn:au:1"), ctx, None)
    context.attrs_append(w.session, member, "urn:au:1", {"no2": 1}, ctx, None)
    context.attrs_update(w.session, member, "urn:au:1", {"no2": 2}, ctx, None)
    context.attr_patch(w.session, member, "urn:au:1", "no2", {"value": 3}, ctx, None)
    context.attr_replace(w.session, member, "urn:au:1", "no2", {"type": "Property", "value": 4}, ctx, None)
    context.attr_delete(w.session, member, "urn:au:1", "no2", ctx, None)
    context.entity_merge(w.session, member, "urn:au:1", {"pm25": {"value": 1}}, ctx, None)
    context.entity_replace(w.session, member, "urn:au:1", {"type": "AirQualityObserved", "pm25": 1}, ctx, None)
    context.entity_delete(w.session, member, "urn:au:1", None)
    rows = w.session.scalars(select(AuditEntry).where(AuditEntry.target_id == "urn:au:1")
                             .order_by(AuditEntry.at, AuditEntry.id)).all()
    assert {r.action for r in rows} == {
        "context_entity_create", "context_entity_attrs_append", "context_entity_attrs_update",
        "context_entity_attr_patch", "context_entity_attr_replace", "context_entity_attr_delete",
        "context_entity_merge", "context_entity_replace", "context_entity_delete"}
    assert all(r.org_id == w.orgs["dept_a"].id and r.actor_name == member.username for r in rows)
