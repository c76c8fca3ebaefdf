"""Demo step: the standard device profiles, Chongqing landmarks as assets, a few hundred devices, a day of data.

Bridges over the Yangtze and Jialing (朝天门长江大桥, 千厮门嘉陵江大桥, 东水门长江大桥, 菜园坝长江大桥,
鹅公岩长江大桥 …) with their spans, utility tunnels (综合管廊) with sections, traffic detectors at busy
junctions, public spaces and old buildings; each owned by the department or district that runs it. Coordinates
are approximate public locations. Six hours of simulated history go through the real ingest path. Idempotent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cityhub.connect import service as connect
from cityhub.connect.schemas import AssetCreate, DeviceCreate
from cityhub.core import service as core
from cityhub.kit import clock

if TYPE_CHECKING:
    from cityhub.demo import DemoContext

# name, kind, owner code, district code, lon, lat, children (name suffixes), profile, devices per child
LANDMARKS: tuple[tuple[str, str, str, str, float, float, tuple[str, ...], str, int], ...] = (
    ("朝天门长江大桥", "bridge", "cq-jtw", "cq-jb", 106.5917, 29.5850, ("北引桥", "主跨", "南引桥"),
     "bridge-health", 6),
    ("千厮门嘉陵江大桥", "bridge", "cq-jtw", "cq-yz", 106.5783, 29.5683, ("北岸边跨", "主跨", "南岸边跨"),
     "bridge-health", 6),
    ("东水门长江大桥", "bridge", "cq-jtw", "cq-na", 106.5850, 29.5600, ("北岸边跨", "主跨", "南岸边跨"),
     "bridge-health", 6),
    ("菜园坝长江大桥", "bridge", "cq-jtw", "cq-yz", 106.5520, 29.5380, ("北引桥", "主跨", "南引桥"),
     "bridge-health", 6),
    ("鹅公岩长江大桥", "bridge", "cq-jtw", "cq-jlp", 106.5230, 29.5120, ("东岸边跨", "主跨", "西岸边跨"),
     "bridge-health", 6),
    ("嘉陵江大桥", "bridge", "cq-jtw", "cq-yz", 106.5480, 29.5660, ("北岸", "主跨"), "bridge-health", 5),
    ("石板坡长江大桥", "bridge", "cq-jtw", "cq-yz", 106.5600, 29.5440, ("北岸", "主跨", "南岸"), "bridge-health", 5),
    ("两江新区悦来综合管廊", "pipe_gallery", "cq-zfcxjw", "cq-ljxq", 106.5560, 29.7170,
     ("A 段", "B 段", "C 段", "D 段"), "pipe-gallery", 5),
    ("礼嘉综合管廊", "pipe_gallery", "cq-zfcxjw", "cq-yb", 106.5190, 29.6460, ("一段", "二段", "三段"),
     "pipe-gallery", 5),
    ("西部科学城综合管廊", "pipe_gallery", "cq-zfcxjw", "cq-spb", 106.3280, 29.5960, ("一段", "二段"),
     "pipe-gallery", 5),
    ("解放碑商圈路口", "traffic", "cq-gaj", "cq-yz", 106.5770, 29.5590, ("民族路口", "邹容路口", "八一路口"),
     "traffic-flow", 4),
    ("观音桥商圈路口", "traffic", "cq-gaj", "cq-jb", 106.5320, 29.5770, ("建新北路口", "北城天街口"),
     "traffic-flow", 4),
    ("沙坪坝三峡广场路口", "traffic", "cq-gaj", "cq-spb", 106.4580, 29.5580, ("小龙坎路口", "天陈路口"),
     "traffic-flow", 4),
    ("南坪商圈路口", "traffic", "cq-gaj", "cq-na", 106.5660, 29.5300, ("南坪转盘", "万达路口"), "traffic-flow", 4),
    ("解放碑步行街", "public_space", "cq-yz", "cq-yz", 106.5770, 29.5580, ("纪念碑广场", "八一好吃街"),
     "air-noise", 4),
    ("洪崖洞", "public_space", "cq-yz", "cq-yz", 106.5790, 29.5630, ("观景平台", "滨江步道"), "air-noise", 4),
    ("人民大礼堂广场", "public_space", "cq-yz", "cq-yz", 106.5530, 29.5620, ("人民广场",), "air-noise", 4),
    ("三峡广场", "public_space", "cq-spb", "cq-spb", 106.4590, 29.5570, ("中心广场", "步行街"), "air-noise", 4),
    ("磁器口古镇", "public_space", "cq-spb", "cq-spb", 106.4480, 29.5800, ("正街", "码头"), "air-noise", 3),
    ("十八梯传统风貌区", "building", "cq-yz", "cq-yz", 106.5720, 29.5530, ("一号楼", "二号楼", "三号楼", "四号楼"),
     "building-safety", 4),
    ("山城巷老旧小区", "building", "cq-zfcxjw", "cq-yz", 106.5700, 29.5490, ("A 栋", "B 栋", "C 栋"),
     "building-safety", 4),
)
CHILD_KIND = {"bridge": "span", "pipe_gallery": "gallery_section"}
HISTORY_HOURS = 6
HISTORY_STEP_MIN = 5


def build(session: Session, ctx: DemoContext) -> dict[str, int]:
    """Create what is missing of the demo sensing network."""
    profiles = connect.device_profiles_ensure(session, ctx.actor)
    existing = {a.name for a in connect.asset_list(session, ctx.actor)}
    assets = devices = 0
    created: list[Any] = []
    for name, kind, owner, district, lon, lat, children, profile, per_child in LANDMARKS:
        if name in existing:
            continue
        org = core.organization_by_code(session, owner)
        dist = core.organization_by_code(session, district)
        if org is None:
            continue
        root = connect.asset_create(session, ctx.actor, AssetCreate(
            name=name, kind=kind, org_id=org.id, district_id=dist.id if dist else None, lon=lon, lat=lat))
        assets += 1
        for i, child in enumerate(children):
            c_lon, c_lat = lon + (i - len(children) / 2) * 0.0012, lat + (i - len(children) / 2) * 0.0008
            sub = connect.asset_create(session, ctx.actor, AssetCreate(
                name=f"{name} {child}", kind=CHILD_KIND.get(kind, kind), org_id=org.id, parent_id=root.id,
                lon=round(c_lon, 6), lat=round(c_lat, 6)))
            assets += 1
            for n in range(per_child):
                dev, _token = connect.device_create(session, ctx.actor, DeviceCreate(
                    name=f"{name} {child} {profile.split('-')[0]}-{n + 1:02d}", org_id=org.id, profile_code=profile,
                    asset_id=sub.id, serial=f"CQ-{owner[3:].upper()}-{ctx.rng.randint(0, 10**8 - 1):08d}"))
                created.append(dev)
                devices += 1
    points = _history(session, ctx, created) if created else 0
    ctx.log(f"demo: connect — {profiles} profiles, {assets} assets, {devices} devices, {points} points of history")
    return {"profiles": profiles, "assets": assets, "devices": devices, "points": points}


def _history(session: Session, ctx: DemoContext, devices: list[Any]) -> int:
    now = clock.now().replace(second=0, microsecond=0)
    return connect.simulate_history(session, [d.id for d in devices], start=now - timedelta(hours=HISTORY_HOURS),
                                    end=now, step=timedelta(minutes=HISTORY_STEP_MIN), seed=ctx.rng.randint(0, 10**6))
