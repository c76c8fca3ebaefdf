"""Published versions of catalog entries: the field snapshot and the readable diff between versions.

Internal to the catalog capability: `catalog.service` publishes a version on every approved review.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from cityhub.core.service import Actor
from cityhub.data.models import CatalogEntry, EntryVersion
from cityhub.kit import clock

ENTRY_FIELDS = ("title", "abstract", "classification", "base_db", "theme", "tags", "format_category", "items",
                "share_type", "share_condition", "legal_basis", "share_mode", "open_type", "open_condition",
                "update_cycle", "security_grade", "source_system", "related_entry_ids")
FIELD_LABELS = {"title": "名称", "abstract": "摘要", "classification": "分类", "base_db": "基础库", "theme": "主题",
                "tags": "标签", "format_category": "格式分类", "items": "信息项", "share_type": "共享类型",
                "share_condition": "共享条件", "legal_basis": "共享依据", "share_mode": "共享方式",
                "open_type": "开放类型", "open_condition": "开放条件", "update_cycle": "更新周期",
                "security_grade": "安全级别", "source_system": "来源系统", "related_entry_ids": "关联资源"}


def entry_values(entry: CatalogEntry) -> dict[str, Any]:
    """The catalog fields of an entry (what a version snapshots and an update may change)."""
    return {f: getattr(entry, f) for f in ENTRY_FIELDS}


def jsonable(v: Any) -> Any:
    """Field values as JSON (UUIDs as text), for snapshots and pending changes."""
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


def _diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """A readable diff: changed fields with labels; information items compared by name_en."""
    out: list[dict[str, Any]] = []
    for f in ENTRY_FIELDS:
        a, b = before.get(f), after.get(f)
        if a == b:
            continue
        if f == "items":
            old = {i["name_en"]: i for i in a or []}
            new = {i["name_en"]: i for i in b or []}
            for k in new.keys() - old.keys():
                out.append({"field": "items", "label": f"信息项 {new[k]['name_cn']}", "change": "added",
                            "before": None, "after": new[k]})
            for k in old.keys() - new.keys():
                out.append({"field": "items", "label": f"信息项 {old[k]['name_cn']}", "change": "removed",
                            "before": old[k], "after": None})
            for k in sorted(old.keys() & new.keys()):
                if old[k] != new[k]:
                    changed = {p: [old[k].get(p), new[k].get(p)] for p in new[k] if old[k].get(p) != new[k].get(p)}
                    out.append({"field": "items", "label": f"信息项 {new[k]['name_cn']}", "change": "changed",
                                "before": {p: v[0] for p, v in changed.items()},
                                "after": {p: v[1] for p, v in changed.items()}})
        else:
            out.append({"field": f, "label": FIELD_LABELS.get(f, f), "change": "changed", "before": a, "after": b})
    return out


def publish_version(session: Session, actor: Actor, entry: CatalogEntry, before: dict[str, Any]) -> EntryVersion:
    """Snapshot the entry as its next version, with the diff from `before` (the previous snapshot)."""
    snap = jsonable(entry_values(entry))
    entry.version += 1
    entry.published_at = clock.now()
    ver = EntryVersion(entry_id=entry.id, version=entry.version, snapshot=snap,
                       diff=_diff(before, snap) if before else [], actor_name=actor.username[:100])
    session.add(ver)
    return ver

