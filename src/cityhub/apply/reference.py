"""The programme's targets as data: the seed plan's numbers, loaded by `cityhub apply seed` and the demo.

Each row names where its progress comes from: `computed` rows name a progress source of
`apply/progress/service.py` (a registry computed from the layers' façades); `reported` rows are reported by their
owner with evidence and reviewed by the bureau. Owners are organisation codes (the demo's Chongqing units); a code
the city does not have leaves the target with the bureau. Baselines are what the plan starts from (0 for the
"new" quantities it counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

PROGRAMME_CODE = "cq-smart-city"
START = date(2019, 1, 1)
DEADLINE = date(2022, 12, 31)


@dataclass(frozen=True)
class SeedNode:
    """One node of the seed's target tree."""

    code: str
    parent: str | None
    kind: str  # programme | layer | target
    layer: str
    title_zh: str
    title_en: str
    unit: str = ""
    target: float | None = None
    method: str = "none"  # computed | reported | none
    source: str = ""  # the progress source of a computed target
    owner: str = ""  # the owner organisation's code ("" = the bureau)
    source_text: str = ""
    baseline: float = 0.0
    year: int = 2022


_PLAN = "《重庆市新型智慧城市建设方案（2019—2022年）》"
P = PROGRAMME_CODE

SEED: tuple[SeedNode, ...] = (
    SeedNode(P, None, "programme", "", "重庆市新型智慧城市建设", "Chongqing new smart city programme",
             source_text=_PLAN),
    SeedNode("cloud", P, "layer", "cloud", "云：集约化云平台", "Cloud: the shared cloud platform"),
    SeedNode("cloud.systems_integrated", "cloud", "target", "cloud", "整合接入信息系统", "Systems integrated",
             "个", 500, "computed", "cloud.systems_integrated",
             source_text="整合接入500个以上政务信息系统"),
    SeedNode("cloud.integration_city", "cloud", "target", "cloud", "市级部门信息系统整合率",
             "Integration ratio, city departments", "%", 75, "computed", "cloud.integration_city",
             source_text="市级部门信息系统整合率达到75%"),
    SeedNode("cloud.integration_district", "cloud", "target", "cloud", "区县信息系统整合率",
             "Integration ratio, districts and counties", "%", 50, "computed", "cloud.integration_district",
             source_text="区县信息系统整合率达到50%"),
    SeedNode("cloud.liangjiang_servers", "cloud", "target", "cloud", "两江云计算产业园服务器规模",
             "Servers at the Liangjiang cloud park", "台", 300_000, "computed", "cloud.liangjiang_servers",
             owner="cq-ljxq",
             source_text="两江国际云计算产业园服务器规模达到30万台"),
    SeedNode("connect", P, "layer", "connect", "联：通信网络与物联感知", "Connect: networks and sensing"),
    SeedNode("connect.5g_base_stations", "connect", "target", "connect", "新建5G基站", "New 5G base stations",
             "个", 30_000, "computed", "connect.base_stations_active", owner="cq-jxw",
             source_text="新建5G基站3万个"),
    SeedNode("connect.backbone_egress", "connect", "target", "connect", "新增互联网骨干直联出口带宽",
             "Backbone egress bandwidth added", "Tbps", 18, "computed", "connect.backbone_egress_tbps", owner="cq-jxw",
             source_text="互联网省际出口带宽新增18Tbps"),
    SeedNode("connect.interconnect", "connect", "target", "connect", "新增国家级互联网骨干直联点带宽",
             "Interconnect bandwidth added", "G", 110, "computed", "connect.interconnect_g", owner="cq-jxw",
             source_text="国家级互联网骨干直联点带宽新增110G"),
    SeedNode("connect.direct_cities", "connect", "target", "connect", "省际直联城市",
             "Provincial direct-connect cities", "个", 32, "computed", "connect.direct_cities", owner="cq-jxw",
             source_text="直联城市达到32个"),
    SeedNode("connect.intl_bandwidth", "connect", "target", "connect", "新增中新国际数据通道带宽",
             "International data channel bandwidth added", "M", 1_000, "reported", owner="cq-jxw",
             source_text="中新（重庆）国际互联网数据专用通道新增带宽1000M"),
    SeedNode("connect.channel_users", "connect", "target", "connect", "新增国际数据通道用户",
             "New international data channel users", "个", 50, "computed", "connect.channel_users_active",
             owner="cq-jxw",
             source_text="新增数据通道用户50个"),
    SeedNode("data", P, "layer", "data", "数：数据资源中心", "Data: the data resource centre"),
    SeedNode("data.units_connected", "data", "target", "data", "接入数据资源中心的部门和区县",
             "Departments and districts connected to the resource centre", "个", 100, "computed",
             "data.providers", source_text="100个以上市级部门和区县接入数据资源中心"),
    SeedNode("data.base_databases", "data", "target", "data", "基础数据库", "Base databases", "个", 4, "computed",
             "data.base_databases", source_text="建成人口、法人、自然资源和空间地理、社会信用4大基础数据库"),
    SeedNode("data.thematic_databases", "data", "target", "data", "主题数据库", "Thematic databases", "个", 22,
             "computed", "data.themes", source_text="建成22个主题数据库"),
    SeedNode("compute", P, "layer", "compute", "算：智能中枢", "Compute: the capability hub"),
    SeedNode("compute.components", "compute", "target", "compute", "共性能力组件", "Capability components",
             "个", 200, "computed", "compute.components_published",
             source_text="上线200个以上共性技术和业务协同能力组件"),
    SeedNode("apply", P, "layer", "apply", "用：应用场景", "Apply: application scenarios"),
    SeedNode("apply.smart_city", "apply", "target", "apply", "智慧城市应用场景", "Smart-city scenarios", "个", 10,
             "computed", "apply.scenarios_smart_city", source_text="打造10个智慧城市应用场景"),
    SeedNode("apply.livelihood", "apply", "target", "apply", "小切口大民生应用场景",
             "Small-entry livelihood scenarios", "个", 10, "computed", "apply.scenarios_livelihood",
             source_text="打造10个“小切口、大民生”应用场景"),
    SeedNode("apply.5g", "apply", "target", "apply", "5G应用场景", "5G scenarios", "个", 10, "computed",
             "apply.scenarios_5g", owner="cq-jxw", source_text="打造10个5G应用示范场景"),
    SeedNode("apply.data_channel", "apply", "target", "apply", "中新数据通道应用场景", "Data-channel scenarios", "个",
             10, "computed", "apply.scenarios_data_channel", owner="cq-sww",
             source_text="打造10个中新国际数据通道应用场景"),
    SeedNode("apply.future_community", "apply", "target", "apply", "未来社区示范样板", "Future-community samples",
             "个", 10, "computed", "apply.scenarios_future_community", owner="cq-zfcxjw",
             source_text="打造10个未来社区示范样板"),
    SeedNode("apply.enterprises", "apply", "target", "apply", "大数据智能化企业",
             "Big-data and intelligence enterprises", "家", 1_000, "computed", "apply.enterprises", owner="cq-jxw",
             source_text="培育大数据智能化企业1000家"),
)


# ---------------------------------------------------------------- annual evaluation (年度评比机制, 云长权责机制)

# The default schemes: (code, title_zh, title_en, org_type, ((indicator key, weight, full marks at | None), ...)).
# Weights sum to 100; a count's "full marks at" is the year's expectation of one unit; for a time (lower is better)
# it is the time at or below which the unit earns full marks.
SCHEMES: tuple[tuple[str, str, str, str, tuple[tuple[str, float, float | None], ...]], ...] = (
    ("dept-annual", "市级部门年度评比", "Annual evaluation of city departments", "department", (
        ("cloud.on_cloud", 15, None), ("cloud.integration", 15, None), ("data.entries_published", 10, 20),
        ("data.entries_shared", 5, 100), ("data.quality", 5, 100), ("data.responsibility_kpi", 10, 100),
        ("data.request_response_hours", 10, 48), ("ops.incident_sla", 10, 100),
        ("compute.components_published", 5, 3), ("compute.component_calls", 5, 500),
        ("apply.scenarios_delivered", 5, 100), ("bureau.assessment", 5, 100))),
    ("district-annual", "区县年度评比", "Annual evaluation of districts and counties", "district", (
        ("cloud.on_cloud", 20, None), ("cloud.integration", 15, None), ("data.entries_published", 10, 10),
        ("data.entries_shared", 5, 100), ("data.responsibility_kpi", 5, 100), ("data.request_response_hours", 10, 48),
        ("ops.incident_sla", 15, 100), ("compute.component_calls", 5, 200), ("apply.scenarios_delivered", 5, 100),
        ("bureau.assessment", 10, 100))),
)

# ---------------------------------------------------------------- 5G base stations

CARRIERS = ("cmcc", "cucc", "ctcc", "cbn")  # 中国移动, 中国联通, 中国电信, 中国广电
BANDS = ("n1", "n28", "n41", "n78", "n79")  # the 5G NR bands the operators use in Chongqing

# ---------------------------------------------------------------- digital economy

SECTORS = ("big_data", "ai", "ic", "software", "iot", "blockchain", "smart_hardware", "digital_content")
SIZES = ("large", "medium", "small", "micro")
PARKS = (  # (code, name, district code)
    ("ljsz", "两江数字经济产业园", "cq-ljxq"), ("xywdy", "西永微电园", "cq-spb"),
    ("zgzg", "中国智谷（重庆）科技园", "cq-bn"),
    ("xtsjg", "仙桃数据谷", "cq-yb"), ("yzqkl", "渝中区块链产业园", "cq-yz"),
)

# ---------------------------------------------------------------- data channel and data centres

CHANNEL_SECTORS = ("finance", "logistics", "health", "manufacturing", "software", "games", "research", "other")
DC_TIERS = ("A", "B", "C")  # GB 50174-2017 data-centre classes
DC_ROLES = ("production", "local_backup", "remote_backup")  # 两地三中心: 生产中心, 同城灾备, 异地灾备
