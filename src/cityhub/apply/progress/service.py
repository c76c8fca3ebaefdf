"""Where computed progress comes from, and what a target's history says: status and forecast.

**Progress sources** are a registry of named functions `(session) -> float`, each reading one figure through a
layer's façade (cloud, connect, data, compute, ops) — never their tables. They run as the platform itself
(`Actor.system`): a source is a city-wide count or ratio, the same for every viewer, and no row of any unit is
shown through it.

**Status** (red / amber / green) compares progress with a linear schedule from the start date to the deadline:
`progress = (value − baseline) / (target − baseline)`, `schedule = elapsed / duration` (0..1). Green when the
target is met or progress is at most 5 points behind schedule, amber up to 20 points behind, red beyond that or
when the deadline has passed unmet. A forecast below the target turns a green into amber.

**Forecast**: an ordinary least-squares line through the history (value against time, at least two points on
different days), evaluated at the deadline. No seasonality, no bounds: a documented, simple trend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from cityhub.apply.economy import service as economy
from cityhub.apply.facilities import service as facilities
from cityhub.apply.models import ScenarioBatch
from cityhub.apply.projects import service as projects
from cityhub.apply.scenarios import service as scenarios
from cityhub.apply.stations import service as stations
from cityhub.cloud import service as cloud
from cityhub.compute import service as compute
from cityhub.connect import service as connect
from cityhub.core.actor import Actor
from cityhub.data import service as data
from cityhub.kit import labels
from cityhub.kit.pagination import PageParams
from cityhub.ops import service as ops

_ACTOR = Actor.system("apply-progress")
_ONE = PageParams(limit=1, offset=0)

GREEN_SLACK = 0.05  # progress may trail the schedule by this much and stay green
AMBER_SLACK = 0.20  # beyond this it is red


def _integration(session: Session, level: str) -> float:
    _city, units = cloud.ratios(session, _ACTOR)
    n = sum(u.systems for u in units if u.level == level)
    i = sum(u.integrated for u in units if u.level == level)
    return round(100.0 * i / n, 2) if n else 0.0


def _cloud_city(session: Session) -> tuple[int, int, int]:
    city, _units = cloud.ratios(session, _ACTOR)
    return (city.systems, city.on_cloud, city.integrated) if city else (0, 0, 0)


def _incidents_within_sla(session: Session) -> float:
    _rows, closed = ops.incident_list(session, _ACTOR, _ONE, status="closed")
    _rows, kept = ops.incident_list(session, _ACTOR, _ONE, status="closed", breached=False)
    return round(100.0 * kept / closed, 2) if closed else 0.0


@dataclass(frozen=True)
class Source:
    """A named progress source: what it counts, its unit, and how."""

    key: str
    layer: str
    title: str  # English message id
    unit: str
    compute: Callable[[Session], float]


def _data(key: str) -> Callable[[Session], float]:
    return lambda session: float(data.programme_counts(session)[key])


def _scenarios(batch: ScenarioBatch) -> Callable[[Session], float]:
    return lambda session: float(scenarios.delivered_count(session, batch))


SOURCES: dict[str, Source] = {s.key: s for s in (
    Source("cloud.systems_integrated", "cloud", "Information systems integrated", "",
           lambda s: float(_cloud_city(s)[2])),
    Source("cloud.systems_on_cloud", "cloud", "Information systems on the cloud", "",
           lambda s: float(_cloud_city(s)[1])),
    Source("cloud.integration_city", "cloud", "Integration ratio of city departments", "%",
           lambda s: _integration(s, "city")),
    Source("cloud.integration_district", "cloud", "Integration ratio of districts and counties", "%",
           lambda s: _integration(s, "district")),
    Source("cloud.liangjiang_servers", "cloud", "Servers in service at the Liangjiang cloud park", "",
           lambda s: float(facilities.totals(s).liangjiang_servers)),
    Source("connect.channel_users_active", "connect", "International data channel users in service", "",
           lambda s: float(facilities.totals(s).channel_users_active)),
    Source("connect.base_stations_active", "connect", "5G base stations in service", "",
           lambda s: float(stations.active_count(s))),
    Source("connect.backbone_egress_tbps", "connect", "Backbone egress bandwidth in service", "Tbps",
           lambda s: stations.link_totals(s)["backbone_egress_tbps"]),
    Source("connect.interconnect_g", "connect", "National interconnect bandwidth in service", "G",
           lambda s: stations.link_totals(s)["interconnect_g"]),
    Source("connect.direct_cities", "connect", "Provincial direct-connect cities", "",
           lambda s: stations.link_totals(s)["direct_cities"]),
    Source("connect.devices_active", "connect", "Devices in service", "",
           lambda s: float(connect.overview(s, _ACTOR)["by_status"].get("active", 0))),
    Source("data.entries_published", "data", "Published catalog entries", "", _data("entries_published")),
    Source("data.entries_shared", "data", "Catalog entries shared", "", _data("entries_shared")),
    Source("data.entries_opened", "data", "Catalog entries opened to the public", "", _data("entries_opened")),
    Source("data.providers", "data", "Units providing published data", "", _data("providers")),
    Source("data.base_databases", "data", "Base databases with published entries", "", _data("base_databases")),
    Source("data.themes", "data", "Thematic databases with published entries", "", _data("themes")),
    Source("compute.components_published", "compute", "Capability components published", "",
           lambda s: float(compute.component_list(s, _ACTOR, _ONE, status="published")[1])),
    Source("ops.incidents_within_sla", "ops", "Closed incidents handled within their SLA", "%",
           _incidents_within_sla),
    Source("apply.scenarios_smart_city", "apply", "Smart-city scenarios built", "",
           _scenarios(ScenarioBatch.SMART_CITY)),
    Source("apply.scenarios_livelihood", "apply", "Small-entry livelihood scenarios built", "",
           _scenarios(ScenarioBatch.LIVELIHOOD)),
    Source("apply.scenarios_5g", "apply", "5G scenarios built", "", _scenarios(ScenarioBatch.G5)),
    Source("apply.scenarios_data_channel", "apply", "Data-channel scenarios built", "",
           _scenarios(ScenarioBatch.DATA_CHANNEL)),
    Source("apply.scenarios_future_community", "apply", "Future-community samples built", "",
           _scenarios(ScenarioBatch.FUTURE_COMMUNITY)),
    Source("apply.enterprises", "apply", "Big-data and intelligence enterprises registered", "",
           lambda s: float(economy.enterprise_count(s))),
    Source("apply.key_projects_investment", "apply", "Investment completed in digital-economy key projects", "万元",
           lambda s: round(projects.investment_completed_total(s), 1)),
    Source("apply.key_projects_completed", "apply", "Digital-economy key projects completed", "",
           lambda s: float(projects.completed_count(s))),
)}

# the pages name a target's source in words: {{ t.source_key|label('apply.progress_source') }}
labels.register("apply.progress_source", {key: s.title for key, s in SOURCES.items()})


def source_value(session: Session, key: str) -> float:
    """The current value of one progress source (KeyError for an unknown key)."""
    return SOURCES[key].compute(session)


# ---------------------------------------------------------------- status and forecast


def schedule_fraction(start: date | None, deadline: date | None, today: date) -> float | None:
    """Share of the time from start to deadline that has passed (0..1; None without dates)."""
    if start is None or deadline is None or deadline <= start:
        return None
    return min(1.0, max(0.0, (today - start).days / (deadline - start).days))


def progress_fraction(value: float | None, baseline: float, target: float | None) -> float | None:
    """Share of the way from baseline to target covered by `value` (may exceed 1; None when unknown)."""
    if value is None or target is None or target == baseline:
        return None
    return (value - baseline) / (target - baseline)


def forecast(points: Sequence[tuple[datetime, float]], deadline: date | None) -> float | None:
    """The least-squares line through the history, evaluated at the deadline (None with < 2 distinct days)."""
    if deadline is None or len({p[0].date() for p in points}) < 2:
        return None
    xs = [p[0].timestamp() / 86400.0 for p in points]
    ys = [p[1] for p in points]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    at = datetime(deadline.year, deadline.month, deadline.day, tzinfo=points[0][0].tzinfo).timestamp() / 86400.0
    return round(my + slope * (at - mx), 4)


def status(progress: float | None, schedule: float | None, projected: float | None, target: float | None,
           today: date, deadline: date | None) -> str:
    """Red / amber / green / none (no value yet or no dates), as the module docstring states."""
    if progress is None or schedule is None:
        return "none"
    if progress >= 1.0:
        return "green"
    if deadline is not None and today > deadline:
        return "red"
    gap = schedule - progress
    if gap > AMBER_SLACK:
        return "red"
    if gap > GREEN_SLACK:
        return "amber"
    if projected is not None and target is not None and projected < target:
        return "amber"
    return "green"
