"""Two catalog tiers (decision 0012): a district's units publish into the district's catalog, reviewed by the
district's data admin; the district shares entries upward to the city catalog; sharing requests for a district's
resources are reviewed by the district. One visibility rule decides who sees what (matrix below)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from cityhub.core import service as core
from cityhub.core.models import AuditEntry
from cityhub.core.schemas import OrganizationCreate, UserCreate
from cityhub.data import policies, schemas, service
from cityhub.data.catalog import service as catalog
from cityhub.data.catalog.tiers import publisher_org_id
from cityhub.data.sharing.service import COMPLIANCE_DAYS
from cityhub.kit import clock
from cityhub.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.data.helpers import SYSTEM, bureau_setup, entry_data, published_entry

ANON = core.Actor.anonymous()


def _unit(w: Any, key: str, name: str, parent: str, kind: str = "unit") -> None:
    w.orgs[key] = core.organization_create(w.session, SYSTEM, OrganizationCreate(
        name=name, code=f"t-{key.replace('_', '-')}", kind=kind, parent_id=w.orgs[parent].id))


def _member(w: Any, key: str, org: str) -> None:
    user = core.user_create(w.session, SYSTEM, UserCreate(username=f"t-{key.replace('_', '-')}",
                                                          password="correct-horse-42", org_id=w.orgs[org].id,
                                                          roles=["org_member"]))
    w.users[key] = user
    w.actors[key] = core.actor_for_user(w.session, user)


@pytest.fixture
def tiers(world: Any) -> Any:
    """丙区 (the world's district, admin `district_admin`) with two units; 丁区, another district, with one."""
    bureau_setup(world)
    _unit(world, "d_unit", "丙区教育局", "district")
    _unit(world, "d_unit2", "丙区卫健委", "district")
    _unit(world, "other", "丁区", "city", kind="district")
    _unit(world, "o_unit", "丁区教育局", "other")
    for key, org in (("d_member", "d_unit"), ("d_member2", "d_unit2"), ("o_member", "o_unit")):
        _member(world, key, org)
    world.refresh_actors()  # the district admin's binding now covers the new units (a login after the change)
    return world


def _district_entry(w: Any, *, publish: bool = True, **over: Any) -> Any:
    m = w.actors["d_member"]
    entry = service.catalog_entry_create(w.session, m, entry_data(w, "d_unit", title="学籍信息", **over))
    if publish:
        service.catalog_entry_submit(w.session, m, entry.id)
        service.catalog_entry_review(w.session, w.actors["district_admin"], entry.id, True, "合规")
    return entry


def _sees(w: Any, who: str, entry: Any) -> bool:
    actor = ANON if who == "anonymous" else w.actors[who]
    try:
        service.catalog_entry_get(w.session, actor, entry.id)
    except NotFound:
        return False
    return True


def _searched(w: Any, who: str, entry: Any) -> bool:
    actor = ANON if who == "anonymous" else w.actors[who]
    rows, _total, _facets = service.catalog_search(w.session, actor, "", {}, [], "", 100, 0)
    return entry.id in {e.id for e in rows}


WHO = ("d_member", "d_member2", "district_admin", "o_member", "org_member_a", "bureau_member", "anonymous")


def test_the_tier_follows_the_providers_district(tiers: Any) -> None:
    w = tiers
    district = _district_entry(w, publish=False)
    assert (district.tier, district.tier_org_id) == ("district", w.orgs["district"].id)
    city = service.catalog_entry_create(w.session, w.actors["org_member_a"], entry_data(w, title="城市资源"))
    assert (city.tier, city.tier_org_id) == ("city", None)
    own = service.catalog_entry_create(w.session, w.actors["district_admin"], entry_data(w, "district", title="区资源"))
    assert own.tier_org_id == w.orgs["district"].id  # the district itself is in its own tier
    assert publisher_org_id(district) == w.orgs["district"].id == publisher_org_id(own)
    assert publisher_org_id(city) == w.orgs["dept_a"].id


def test_the_district_reviews_its_entries_not_the_bureau(tiers: Any) -> None:
    w = tiers
    m = w.actors["d_member"]
    entry = _district_entry(w, publish=False)
    service.catalog_entry_submit(w.session, m, entry.id)
    queue = {who: [e.id for e in service.catalog_review_queue(w.session, w.actors[who])]
             for who in ("bureau_member", "district_admin", "o_member", "platform_admin")}
    assert entry.id not in queue["bureau_member"] and entry.id in queue["district_admin"]
    assert queue["o_member"] == [] and entry.id in queue["platform_admin"]
    for who in ("bureau_member", "bureau_admin", "d_member"):  # they see it, and may not review it
        with pytest.raises(Forbidden):
            service.catalog_entry_review(w.session, w.actors[who], entry.id, True, "越权")
    with pytest.raises(NotFound):  # another district does not see it at all
        service.catalog_entry_review(w.session, w.actors["o_member"], entry.id, True, "越权")
    service.catalog_entry_review(w.session, w.actors["district_admin"], entry.id, True, "合规")
    assert catalog.is_published(entry)
    city = service.catalog_entry_create(w.session, w.actors["org_member_a"], entry_data(w, title="城市资源"))
    service.catalog_entry_submit(w.session, w.actors["org_member_a"], city.id)
    with pytest.raises(NotFound):  # a city department's pending entry is not the district's to see
        service.catalog_entry_review(w.session, w.actors["district_admin"], city.id, True, "越权")
    with pytest.raises(Forbidden):  # nor to review: the district admin reviews its own tier only
        policies.catalog_entry_review(w.actors["district_admin"], None)
    policies.catalog_entry_review(w.actors["district_admin"], w.orgs["district"].id)
    with pytest.raises(Forbidden):
        policies.catalog_entry_review(w.actors["district_admin"], w.orgs["other"].id)
    assert city.id not in [e.id for e in service.catalog_review_queue(w.session, w.actors["district_admin"])]


def test_visibility_matrix_district_only_then_shared_upward(tiers: Any) -> None:
    w = tiers
    entry = _district_entry(w)  # 不予开放: never public
    draft = _district_entry(w, publish=False, open_type="none")
    inside = {"d_member": True, "d_member2": True, "district_admin": True, "o_member": False,
              "org_member_a": False, "bureau_member": True, "anonymous": False}
    assert {who: _sees(w, who, entry) for who in WHO} == inside
    assert {who: _searched(w, who, entry) for who in WHO} == inside
    assert {who: _sees(w, who, draft) for who in WHO} == {**inside, "d_member2": False}  # drafts: own unit only
    with pytest.raises(Forbidden):
        service.catalog_entry_share_upward(w.session, w.actors["d_member"], entry.id, True)
    with pytest.raises(Forbidden):
        service.catalog_entry_share_upward(w.session, w.actors["bureau_member"], entry.id, True)
    service.catalog_entry_share_upward(w.session, w.actors["district_admin"], entry.id, True)
    with pytest.raises(Conflict):
        service.catalog_entry_share_upward(w.session, w.actors["district_admin"], entry.id, True)
    shared = {**inside, "o_member": True, "org_member_a": True}
    assert {who: _sees(w, who, entry) for who in WHO} == shared
    assert {who: _searched(w, who, entry) for who in WHO} == shared
    assert not _sees(w, "org_member_a", draft)  # sharing one entry shares no other
    listed = {e.id for e in service.catalog_list_entries(w.session, w.actors["org_member_a"])}
    assert entry.id in listed
    service.catalog_entry_share_upward(w.session, w.actors["district_admin"], entry.id, False)
    assert {who: _sees(w, who, entry) for who in WHO} == inside
    rows = list(w.session.scalars(select(AuditEntry).where(AuditEntry.action == "catalog_entry_share_upward",
                                                           AuditEntry.target_id == str(entry.id))))
    assert [r.summary["after"] for r in rows] == [{"shared_upward": True}, {"shared_upward": False}]
    assert all(r.org_id == w.orgs["d_unit"].id for r in rows)


def test_a_city_entry_cannot_be_shared_upward(tiers: Any) -> None:
    w = tiers
    city = published_entry(w)
    for who in ("district_admin", "org_admin_a", "bureau_admin"):
        with pytest.raises(Forbidden):
            service.catalog_entry_share_upward(w.session, w.actors[who], city.id, True)


def test_an_open_district_entry_is_public_with_the_district_as_organization(tiers: Any, client: Any) -> None:
    w = tiers
    entry = _district_entry(w, open_type="unconditional", security_grade="general")
    assert {who: _sees(w, who, entry) for who in WHO} == dict.fromkeys(WHO, True)  # open data: everyone
    w.session.flush()
    r = client.get(f"/api/3/action/package_show?id={entry.name}")
    assert r.status_code == 200, r.text
    pkg = r.json()["result"]
    assert pkg["organization"]["name"] == "t-district" and pkg["owner_org"] == str(w.orgs["district"].id)
    found = client.get("/api/3/action/package_search?fq=organization:t-district").json()["result"]
    assert entry.name in {p["name"] for p in found["results"]}
    orgs = client.get("/api/3/action/organization_list?all_fields=true").json()["result"]
    assert {o["name"]: o["package_count"] for o in orgs}["t-district"] == 1
    assert entry.title in client.get("/organization/t-district").text  # the portal's pages agree
    assert "丙区" in client.get("/organization").text and "丙区" in client.get(f"/dataset/{entry.name}").text
    closed = _district_entry(w, open_type="none")  # shared or not, 不予开放 stays off the portal
    service.catalog_entry_share_upward(w.session, w.actors["district_admin"], closed.id, True)
    assert client.get(f"/api/3/action/package_show?id={closed.name}").status_code == 404


def _request(w: Any, who: str, entry: Any) -> Any:
    req = service.share_request_create(w.session, w.actors[who], schemas.ShareRequestCreate(
        entry_id=entry.id, items=["name"], legal_basis="依据", purpose="核验", consuming_system="系统"))
    service.share_request_submit(w.session, w.actors[who], req.id)
    return req


def test_requests_for_a_district_resource_route_to_the_district(tiers: Any) -> None:
    w = tiers
    entry = _district_entry(w)
    with pytest.raises(ValidationFailed) as exc:  # not shared upward: a city department cannot see it to ask
        _request(w, "org_member_a", entry)
    assert exc.value.details[0]["field"] == "entry_id"
    inside = _request(w, "d_member2", entry)
    assert inside.tier_org_id == w.orgs["district"].id and inside.status == "compliance_review"
    assert inside.deadline_at == core.working_days_add(w.session, clock.now(), COMPLIANCE_DAYS)  # same deadline
    service.catalog_entry_share_upward(w.session, w.actors["district_admin"], entry.id, True)
    city = _request(w, "org_member_a", entry)
    boxes = {who: {r.id for r in service.share_request_list(w.session, w.actors[who], box="compliance")[0]}
             for who in ("bureau_member", "district_admin", "o_member")}
    assert boxes == {"bureau_member": set(), "district_admin": {inside.id, city.id}, "o_member": set()}
    for who in ("bureau_member", "bureau_admin", "d_member"):
        with pytest.raises(Forbidden):
            service.share_request_compliance_review(w.session, w.actors[who], city.id, True)
    with pytest.raises(NotFound):  # neither requester nor provider: another district does not see the request
        service.share_request_compliance_review(w.session, w.actors["o_member"], city.id, True)
    service.share_request_compliance_review(w.session, w.actors["district_admin"], city.id, True, "合规")
    assert city.status == "provider_review"  # then the providing unit, as for any resource
    service.share_request_provider_review(w.session, w.actors["d_member"], city.id, True)
    assert city.status == "approved"
    audit = w.session.scalar(select(AuditEntry).where(AuditEntry.action == "share_request_provider_review",
                                                      AuditEntry.target_id == str(city.id)))
    assert audit is not None and audit.actor_name == "t-d-admin"


def test_entry_page_shows_the_tier_and_the_district_admin_shares_upward(tiers: Any, client: Any) -> None:
    from tests.web.test_pages import _csrf, login

    w = tiers
    entry = _district_entry(w)
    login(client, "t-d-member", "correct-horse-42")  # the provider: sees the tier, no sharing form
    page = client.get(f"/data/entries/{entry.id}")
    assert page.status_code == 200 and "丙区区县目录" in page.text and "仅区县内可见" in page.text
    assert 'data-testid="share-upward"' not in page.text
    login(client, "t-d-admin")
    page = client.get(f"/data/entries/{entry.id}")
    assert 'data-testid="share-upward"' in page.text
    done = client.post(f"/data/entries/{entry.id}/share-upward",
                       data={"csrf_token": _csrf(page.text), "shared": "true"}, follow_redirects=False)
    assert done.status_code == 303
    w.session.expire_all()
    assert entry.shared_upward is True
    login(client, "t-a-member")  # a city department now finds it in the city catalog
    page = client.get(f"/data/entries/{entry.id}", cookies={"cityhub_lang": "en"})
    assert page.status_code == 200 and "Shared with the city catalog" in page.text
    assert 'data-testid="share-upward"' not in page.text


def test_only_an_org_admin_bound_at_a_district_reviews_a_tier(tiers: Any) -> None:
    from cityhub.core.permissions import P, can

    w = tiers
    admin = w.actors["district_admin"]
    assert can(admin, P.DATA_TIER_REVIEW, w.orgs["district"].id) and not can(admin, P.DATA_TIER_REVIEW,
                                                                              w.orgs["other"].id)
    for who in ("org_admin_a", "d_member", "bureau_member", "bureau_admin", "auditor"):
        assert not can(w.actors[who], P.DATA_TIER_REVIEW), who  # a department's admin is no district's
    assert can(w.actors["platform_admin"], P.DATA_TIER_REVIEW, w.orgs["district"].id)
