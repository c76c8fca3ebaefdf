"""The registry: components, immutable versions, the lifecycle the bureau governs, validation naming the field."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.compute import service as compute
from cityhub.compute.schemas import ComponentUpdate, VersionCreate
from cityhub.core.models import AuditEntry
from cityhub.kit.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from cityhub.kit.pagination import PageParams
from tests.compute.helpers import bureau_setup, component_data, published

PAGE = PageParams(limit=50, offset=0)


def _audit(w: Any, target_id: Any) -> list[str]:
    return [a.action for a in w.session.scalars(select(AuditEntry).where(AuditEntry.target_id == str(target_id))
                                                .order_by(AuditEntry.id))]


def test_lifecycle_from_draft_to_retired_each_step_audited(world: Any) -> None:
    w = bureau_setup(world)
    member = w.actors["org_member_a"]
    c = compute.component_create(w.session, member, component_data(w))
    assert c.status == "draft"
    with pytest.raises(ValidationFailed) as exc:  # nothing to call yet
        compute.component_submit(w.session, member, c.id)
    assert exc.value.field == "versions"
    v = compute.component_version_create(w.session, member, c.id, VersionCreate(
        version="1.0.0", kind="builtin", builtin="coord-convert"))
    compute.component_submit(w.session, member, c.id)
    assert c.status == "in_review" and v.published_at is None
    with pytest.raises(Forbidden):  # the owner does not review its own component
        compute.component_review(w.session, w.actors["org_admin_a"], c.id, True)
    with pytest.raises(ValidationFailed) as exc:
        compute.component_review(w.session, w.actors["bureau_member"], c.id, False, "")
    assert exc.value.field == "note"
    compute.component_review(w.session, w.actors["bureau_member"], c.id, True, "符合规范")
    assert c.status == "published" and v.published_at is not None
    # a new version of a published component waits for the bureau
    v2 = compute.component_version_create(w.session, member, c.id, VersionCreate(
        version="1.1.0-rc.1", kind="builtin", builtin="coord-convert"))
    assert v2.published_at is None
    compute.component_version_publish(w.session, w.actors["bureau_member"], v2.id)
    assert [x.version for x in compute.component_versions(w.session, member, c.id)] == ["1.1.0-rc.1", "1.0.0"]
    compute.component_deprecate(w.session, member, c.id, "replaced")
    compute.component_retire(w.session, member, c.id)
    with pytest.raises(InvalidTransition):
        compute.component_reinstate(w.session, w.actors["bureau_member"], c.id)
    with pytest.raises(Conflict):
        compute.component_version_create(w.session, member, c.id, VersionCreate(
            version="2.0.0", kind="builtin", builtin="noop"))
    assert _audit(w, c.id) == ["component_create", "component_submit", "component_review", "component_deprecate",
                               "component_retire"]
    assert _audit(w, v.id) == ["component_version_create"]


def test_who_sees_and_who_writes(world: Any) -> None:
    w = bureau_setup(world)
    draft = compute.component_create(w.session, w.actors["org_member_a"], component_data(w, "draft-one"))
    with pytest.raises(NotFound):  # another unit's draft does not exist for it
        compute.component_get(w.session, w.actors["org_member_b"], draft.id)
    assert compute.component_get(w.session, w.actors["auditor"], draft.id) is draft
    assert compute.component_get(w.session, w.actors["bureau_member"], draft.id) is draft
    with pytest.raises(Forbidden):
        compute.component_create(w.session, w.actors["org_member_b"], component_data(w, "not-mine"))
    with pytest.raises(Forbidden):
        compute.component_update(w.session, w.actors["auditor"], draft.id, ComponentUpdate(name_zh="x"))
    pub = published(w, "geo")
    assert compute.component_get(w.session, w.actors["org_member_b"], pub.id) is pub
    codes_b = {c.code for c in compute.component_list(w.session, w.actors["org_member_b"], PAGE)[0]}
    assert codes_b == {"geo"}
    codes_a = {c.code for c in compute.component_list(w.session, w.actors["org_member_a"], PAGE)[0]}
    assert codes_a == {"geo", "draft-one"}


def test_bad_input_names_the_field(world: Any) -> None:
    w = bureau_setup(world)
    member = w.actors["org_member_a"]
    with pytest.raises(ValidationFailed) as exc:
        compute.component_create(w.session, member, component_data(w, openapi={"openapi": "3.1.0",
                                                                               "info": {"title": "x"}, "paths": {}}))
    assert exc.value.field == "openapi.info" and "version" in exc.value.message
    with pytest.raises(ValidationFailed) as exc:  # the validator would fetch it: refused before
        compute.component_create(w.session, member, component_data(w, openapi={
            "openapi": "3.1.0", "info": {"title": "x", "version": "1"},
            "paths": {"/a": {"$ref": "http://169.254.169.254/latest/meta-data"}}}))
    assert exc.value.field == "openapi"
    with pytest.raises(ValidationFailed) as exc:
        compute.component_create(w.session, member, component_data(w, openapi={"swagger": "2.0"}))
    assert exc.value.field == "openapi.openapi"
    with pytest.raises(ValidationFailed) as exc:
        compute.component_create(w.session, member, component_data(w, catalog_entry_ids=[uuid.uuid4()]))
    assert exc.value.field == "catalog_entry_ids[0]"
    with pytest.raises(ValidationFailed) as exc:
        compute.component_create(w.session, member, component_data(w, org_id=uuid.uuid4()))
    assert exc.value.field == "org_id"
    c = compute.component_create(w.session, member, component_data(w, "dup"))
    with pytest.raises(Conflict) as conflict:
        compute.component_create(w.session, member, component_data(w, "dup"))
    assert conflict.value.details == [{"field": "code", "message": "taken"}]
    bad_versions = [
        (VersionCreate(version="1.0.0", kind="builtin", builtin="ocr"), "builtin"),
        (VersionCreate(version="1.0.0", kind="upstream", upstream_url=""), "upstream_url"),
        (VersionCreate(version="1.0.0", kind="upstream",
                       upstream_url="http://127.0.0.1:9/api"), "upstream_url"),  # not on the allow-list
    ]
    for data, field in bad_versions:
        with pytest.raises(ValidationFailed) as exc:
            compute.component_version_create(w.session, member, c.id, data)
        assert exc.value.field == field, data
    compute.component_version_create(w.session, member, c.id, VersionCreate(
        version="1.0.0", kind="builtin", builtin="noop"))
    with pytest.raises(Conflict) as conflict:  # immutable: the same version cannot be given again
        compute.component_version_create(w.session, member, c.id, VersionCreate(
            version="1.0.0", kind="builtin", builtin="id-check"))
    assert conflict.value.details == [{"field": "version", "message": "taken"}]
    compute.component_submit(w.session, member, c.id)
    with pytest.raises(Conflict):
        compute.component_update(w.session, member, c.id, ComponentUpdate(name_zh="改名"))


def test_search_is_chinese_aware_and_filters(world: Any) -> None:
    w = bureau_setup(world)
    published(w, "coord")
    published(w, "idc", builtin="id-check", name_zh="身份证号码校验", name_en="ID checks", subcategory="身份核验",
              description="公民身份号码与统一社会信用代码校验", tags=["身份核验"])
    actor = w.actors["org_member_b"]
    assert [c.code for c in compute.component_list(w.session, actor, PAGE, q="坐标")[0]] == ["coord"]
    assert [c.code for c in compute.component_list(w.session, actor, PAGE, q="信用代码")[0]] == ["idc"]
    assert compute.component_list(w.session, actor, PAGE, q="视频")[1] == 0
    assert compute.component_list(w.session, actor, PAGE, category="business")[1] == 0


def test_upstream_versions_only_to_listed_hosts(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityhub.kit.settings import get_settings

    w = bureau_setup(world)
    monkeypatch.setattr(get_settings(), "compute_upstream_allowed_hosts", "127.0.0.1,api.dept.example")
    member = w.actors["org_member_a"]
    c = compute.component_create(w.session, member, component_data(w, "upstream-api"))
    v = compute.component_version_create(w.session, member, c.id, VersionCreate(
        version="1.0.0", kind="upstream", upstream_url="http://127.0.0.1:8765/api/"))
    assert v.upstream_url == "http://127.0.0.1:8765/api"
    with pytest.raises(ValidationFailed) as exc:  # another private address, not listed
        compute.component_version_create(w.session, member, c.id, VersionCreate(
            version="1.0.1", kind="upstream", upstream_url="http://10.0.0.8/api"))
    assert exc.value.field == "upstream_url"
