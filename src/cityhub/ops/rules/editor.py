"""How rules read and what the rule editor offers.

A rule's condition is shown as a sentence in the reader's language ("应变 > 600 με，持续 5 分钟"), with the metric's
name and unit from its device profile (connect's `profile_refs`, through `ops.devices`). The editor's pickers offer
the profiles and their numeric metrics, the assets and the single devices the actor may write rules for, and the
units that may own one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import i18n, labels
from cityhub.kit.i18n import gettext as _
from cityhub.ops import devices, policies
from cityhub.ops.models import RuleKind

SYMBOLS = {">": ">", ">=": "≥", "<": "<", "<=": "≤", "==": "=", "!=": "≠", "abs>": ">", "abs>=": "≥"}


@dataclass(frozen=True)
class Metric:
    """A metric as the editor and the sentences show it."""

    key: str
    name: str
    unit: str


def metrics(session: Session, locale: str | None = None) -> dict[str, dict[str, Metric]]:
    """Profile code → metric key → the metric's name (in the locale) and unit."""
    english = (locale or i18n.get_locale()) != "zh_CN"
    return {p.code: {m.key: Metric(m.key, (m.name_en or m.key) if english else m.name, m.unit) for m in p.metrics}
            for p in devices.profile_refs(session)}


def profiles(session: Session, locale: str | None = None) -> list[dict[str, Any]]:
    """The profile → metric pickers' data: [{code, name, metrics: [{key, name, unit}]}]."""
    english = (locale or i18n.get_locale()) != "zh_CN"
    return [{"code": p.code, "name": (p.name_en or p.code) if english else p.name,
             "metrics": [{"key": m.key, "name": (m.name_en or m.key) if english else m.name, "unit": m.unit}
                         for m in p.metrics]}
            for p in devices.profile_refs(session) if p.metrics]


def usable_assets(session: Session, actor: Actor) -> list[Any]:
    """Assets the actor sees and may write rules for (AssetRef), by name."""
    return [a for a in devices.visible_asset_refs(session, actor)
            if policies.is_center(actor) or policies.is_staff(actor, a.org_id)]


def usable_devices(session: Session, actor: Actor) -> list[Any]:
    """Devices the actor sees and may write rules for (DeviceRef), by name: the one-device picker."""
    return [d for d in devices.visible_device_refs(session, actor)
            if policies.is_center(actor) or policies.is_staff(actor, d.org_id)]


def owner_choices(session: Session, actor: Actor) -> list[tuple[uuid.UUID, str]]:
    """Units the actor may write rules for (its home unit first): (id, name)."""
    home = actor.org_id
    names = core.organization_names(session)
    orgs = [o for o in core.organization_all(session)
            if policies.is_center(actor) or policies.is_staff(actor, o.id)]
    orgs.sort(key=lambda o: (o.id != home, o.kind != "city", o.kind, o.name))
    return [(o.id, names.get(o.id, o.name)) for o in orgs]


def duration_text(seconds: int) -> str:
    """'5 分钟' / '5 min'; whole hours as hours, odd values in seconds."""
    if seconds % 3600 == 0:
        return _("{n} h", n=seconds // 3600)
    if seconds % 60 == 0:
        return _("{n} min", n=seconds // 60)
    return _("{n} s", n=seconds)


def _comparison(metric: Metric, cond: Mapping[str, Any]) -> str:
    op = str(cond.get("op", ">"))
    name = f"|{metric.name}|" if op.startswith("abs") else metric.name
    value = labels.number(float(cond.get("value") or 0))
    return f"{name} {SYMBOLS.get(op, op)} {value}{' ' + metric.unit if metric.unit else ''}"


def sentence(rule: Any, catalogue: Mapping[str, Mapping[str, Metric]] | None = None) -> str:
    """The rule's condition as people read it, in the current language.

    `rule` is anything with the rule's fields (a Rule row, or a version's definition merged with kind/profile/key).
    """
    get = rule.get if isinstance(rule, Mapping) else (lambda k, d=None: getattr(rule, k, d))
    profile, key = get("profile_code") or "", get("key") or ""
    metric = (catalogue or {}).get(profile, {}).get(key) or Metric(key, key, "")
    cond: Mapping[str, Any] = get("condition") or {}
    kind = str(get("kind"))
    if kind == RuleKind.NO_DATA:
        text = _("No data for {duration}", duration=duration_text(int(get("no_data_s") or 0)))
    elif kind == RuleKind.ANOMALY:
        text = _("{metric} departs from its usual level (z-score ≥ {z})", metric=metric.name,
                 z=labels.number(float(cond.get("z") or 3)))
    elif kind == RuleKind.FORECAST:
        text = _("Forecast within {duration}: {comparison}",
                 duration=duration_text(int(cond.get("horizon_s") or 0)), comparison=_comparison(metric, cond))
    elif kind == RuleKind.RATE:
        per_min = Metric(metric.key, metric.name, f"{metric.unit}/min" if metric.unit else "")
        text = _("Change per minute: {comparison}", comparison=_comparison(per_min, cond))
    else:
        text = _comparison(metric, cond)
    if int(get("duration_s") or 0):
        text += _(", held for {duration}", duration=duration_text(int(get("duration_s") or 0)))
    if int(get("repeat_count") or 1) > 1:
        text += _(", {n} times in a row", n=int(get("repeat_count") or 1))
    clear = get("clear_condition")
    if clear:
        shown = Metric("z", _("z-score"), "") if kind == RuleKind.ANOMALY else metric
        text += _("; clears when {comparison}", comparison=_comparison(shown, clear))
    return text
