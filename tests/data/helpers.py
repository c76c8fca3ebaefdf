"""Factories for data tests: entries and requests are created through the data services."""

from __future__ import annotations

import io
from typing import Any

from cityhub.core import service as core
from cityhub.core.schemas import UserCreate
from cityhub.data import schemas, service

SYSTEM = core.Actor.system("test")

PEOPLE_ITEMS: list[dict[str, Any]] = [
    {"name_cn": "姓名", "name_en": "name", "data_type": "C", "length": 20, "masking_rule": "name",
     "security_level": "important", "required": True},
    {"name_cn": "公民身份号码", "name_en": "id_number", "data_type": "C", "length": 18, "masking_rule": "id_number",
     "security_level": "important", "required": True},
    {"name_cn": "手机号码", "name_en": "phone", "data_type": "C", "length": 11, "masking_rule": "phone"},
    {"name_cn": "性别", "name_en": "gender", "data_type": "C", "length": 2},
    {"name_cn": "出生日期", "name_en": "birth_date", "data_type": "D"},
    {"name_cn": "月收入", "name_en": "income", "data_type": "Y"},
    {"name_cn": "在职", "name_en": "employed", "data_type": "L"},
]

PEOPLE_CSV = (
    "name,id_number,phone,gender,birth_date,income,employed\n"
    "张三,500101199001011234,18012341999,男,1990-01-01,8000.5,是\n"
    "李小红,500103198505052345,13900001111,女,1985-05-05,12000,否\n"
    "欧阳娜娜,500112200012123456,13512345678,女,2000-12-12,,1\n"
)


def bureau_setup(w: Any) -> Any:
    """Make the world's bureau the data bureau and give it a member and an admin (returned as actors)."""
    session = w.session
    core.bureau_set(session, SYSTEM, w.orgs["bureau"].id)
    if "bureau_member" not in w.users:
        for key, role in (("bureau_member", "org_member"), ("bureau_admin", "org_admin")):
            user = core.user_create(session, SYSTEM, UserCreate(
                username=f"t-{key.replace('_', '-')}", password="correct-horse-42", org_id=w.orgs["bureau"].id,
                roles=[role]))
            w.users[key] = user
        w.refresh_actors()
    return w


def entry_data(w: Any, org: str = "dept_a", **over: Any) -> schemas.EntryCreate:
    """A valid population-style entry of `org`."""
    data: dict[str, Any] = {
        "title": "人口基础信息", "abstract": "全市户籍人口的基础身份信息，供政务服务核验使用。",
        "provider_org_id": w.orgs[org].id, "classification": "base", "base_db": "population",
        "tags": ["人口", "身份"], "format_category": "database", "items": PEOPLE_ITEMS,
        "share_type": "conditional", "share_condition": "仅用于政务服务身份核验", "share_mode": "api",
        "open_type": "none", "update_cycle": "daily", "security_grade": "important", "source_system": "人口库",
    }
    data.update(over)
    return schemas.EntryCreate.model_validate(data)


def published_entry(w: Any, org: str = "dept_a", **over: Any) -> Any:
    """An entry created by `org`'s member and published by the platform admin."""
    bureau_setup(w)
    actor = w.actors["org_member_a" if org == "dept_a" else "org_member_b"]
    entry = service.catalog_entry_create(w.session, actor, entry_data(w, org, **over))
    service.catalog_entry_submit(w.session, actor, entry.id)
    service.catalog_entry_review(w.session, w.actors["bureau_member"], entry.id, True, "ok")
    return entry


def load_people(w: Any, entry: Any, org: str = "dept_a") -> Any:
    """Upload PEOPLE_CSV to the entry."""
    actor = w.actors["org_member_a" if org == "dept_a" else "org_member_b"]
    res, load = service.resource_table_upload(w.session, actor, entry.id, "people.csv",
                                              io.BytesIO(PEOPLE_CSV.encode()))
    assert load.accepted, load.errors
    return res


def active_grant(w: Any, entry: Any, items: list[str] | None = None, quota: int = 0) -> tuple[Any, str, Any]:
    """Member B requests `items` of the entry; bureau and provider approve; member B activates."""
    b = w.actors["org_member_b"]
    req = service.share_request_create(w.session, b, schemas.ShareRequestCreate(
        entry_id=entry.id, items=items or ["name", "id_number", "phone", "gender"], legal_basis="《政务数据共享条例》",
        purpose="社保资格核验", consuming_system="社保核验系统", quota=quota))
    service.share_request_submit(w.session, b, req.id)
    service.share_request_compliance_review(w.session, w.actors["bureau_member"], req.id, True, "合规")
    if req.status == "provider_review":
        service.share_request_provider_review(w.session, w.actors["org_member_a"], req.id, True, "同意")
    if req.status == "compliance_review":
        service.share_request_compliance_review(w.session, w.actors["bureau_admin"], req.id, True, "核心数据批准")
    grant, token = service.share_request_activate(w.session, b, req.id)
    return grant, token, req


def gbk_people_csv() -> bytes:
    """PEOPLE_CSV in GBK with Chinese headers."""
    text = PEOPLE_CSV.replace("name,id_number,phone,gender,birth_date,income,employed",
                              "姓名,公民身份号码,手机号码,性别,出生日期,月收入,在职")
    return text.encode("gbk")
