"""Reference data of the demo city: Chongqing's municipal departments, 38 districts/counties, Liangjiang New Area.

Names, GB/T 2260 division codes and seat coordinates are public facts; every person and credential is synthetic.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Unit:
    """One organisation of the demo city."""

    code: str
    name: str
    name_en: str
    kind: str
    division_code: str | None = None
    lon: float | None = None
    lat: float | None = None


CITY = Unit("cq", "重庆市", "Chongqing Municipality", "city", "500000", 106.551, 29.563)

BUREAU_CODE = "cq-dsj"  # 市大数据应用发展管理局 runs the platform

DEPARTMENTS: tuple[Unit, ...] = (
    Unit("cq-dsj", "重庆市大数据应用发展管理局", "Chongqing Big Data Development Bureau", "department"),
    Unit("cq-bgt", "重庆市人民政府办公厅", "General Office of the Municipal Government", "department"),
    Unit("cq-fgw", "重庆市发展和改革委员会", "Development and Reform Commission", "department"),
    Unit("cq-jw", "重庆市教育委员会", "Education Commission", "department"),
    Unit("cq-kjj", "重庆市科学技术局", "Science and Technology Bureau", "department"),
    Unit("cq-jxw", "重庆市经济和信息化委员会", "Economy and Information Technology Commission", "department"),
    Unit("cq-gaj", "重庆市公安局", "Public Security Bureau", "department"),
    Unit("cq-mzj", "重庆市民政局", "Civil Affairs Bureau", "department"),
    Unit("cq-sfj", "重庆市司法局", "Justice Bureau", "department"),
    Unit("cq-czj", "重庆市财政局", "Finance Bureau", "department"),
    Unit("cq-rsj", "重庆市人力资源和社会保障局", "Human Resources and Social Security Bureau", "department"),
    Unit("cq-ghzy", "重庆市规划和自然资源局", "Planning and Natural Resources Bureau", "department"),
    Unit("cq-sthj", "重庆市生态环境局", "Ecology and Environment Bureau", "department"),
    Unit("cq-zfcxjw", "重庆市住房和城乡建设委员会", "Housing and Urban-Rural Development Commission", "department"),
    Unit("cq-cgj", "重庆市城市管理局", "Urban Management Bureau", "department"),
    Unit("cq-jtw", "重庆市交通运输委员会", "Transport Commission", "department"),
    Unit("cq-slj", "重庆市水利局", "Water Resources Bureau", "department"),
    Unit("cq-nyncw", "重庆市农业农村委员会", "Agriculture and Rural Affairs Commission", "department"),
    Unit("cq-sww", "重庆市商务委员会", "Commerce Commission", "department"),
    Unit("cq-whlyw", "重庆市文化和旅游发展委员会", "Culture and Tourism Development Commission", "department"),
    Unit("cq-wjw", "重庆市卫生健康委员会", "Health Commission", "department"),
    Unit("cq-tyjrj", "重庆市退役军人事务局", "Veterans Affairs Bureau", "department"),
    Unit("cq-yjj", "重庆市应急管理局", "Emergency Management Bureau", "department"),
    Unit("cq-sjj", "重庆市审计局", "Audit Bureau", "department"),
    Unit("cq-gzw", "重庆市国有资产监督管理委员会", "State-owned Assets Supervision Commission", "department"),
    Unit("cq-scjgj", "重庆市市场监督管理局", "Market Regulation Administration", "department"),
    Unit("cq-tyj", "重庆市体育局", "Sports Bureau", "department"),
    Unit("cq-tjj", "重庆市统计局", "Statistics Bureau", "department"),
    Unit("cq-ybj", "重庆市医疗保障局", "Healthcare Security Administration", "department"),
    Unit("cq-lyj", "重庆市林业局", "Forestry Bureau", "department"),
    Unit("cq-swj", "国家税务总局重庆市税务局", "Chongqing Tax Service", "department"),
    Unit("cq-qxj", "重庆市气象局", "Meteorological Bureau", "department"),
)

_D = "district"
_C = "county"
DISTRICTS: tuple[Unit, ...] = (
    Unit("cq-wz", "万州区", "Wanzhou District", _D, "500101", 108.408, 30.808),
    Unit("cq-fl", "涪陵区", "Fuling District", _D, "500102", 107.390, 29.703),
    Unit("cq-yz", "渝中区", "Yuzhong District", _D, "500103", 106.569, 29.553),
    Unit("cq-ddk", "大渡口区", "Dadukou District", _D, "500104", 106.483, 29.484),
    Unit("cq-jb", "江北区", "Jiangbei District", _D, "500105", 106.574, 29.607),
    Unit("cq-spb", "沙坪坝区", "Shapingba District", _D, "500106", 106.458, 29.541),
    Unit("cq-jlp", "九龙坡区", "Jiulongpo District", _D, "500107", 106.511, 29.502),
    Unit("cq-na", "南岸区", "Nan'an District", _D, "500108", 106.563, 29.523),
    Unit("cq-bb", "北碚区", "Beibei District", _D, "500109", 106.396, 29.805),
    Unit("cq-qj", "綦江区", "Qijiang District", _D, "500110", 106.651, 29.028),
    Unit("cq-dz", "大足区", "Dazu District", _D, "500111", 105.722, 29.707),
    Unit("cq-yb", "渝北区", "Yubei District", _D, "500112", 106.631, 29.718),
    Unit("cq-bn", "巴南区", "Banan District", _D, "500113", 106.540, 29.402),
    Unit("cq-qjq", "黔江区", "Qianjiang District", _D, "500114", 108.771, 29.533),
    Unit("cq-cs", "长寿区", "Changshou District", _D, "500115", 107.081, 29.857),
    Unit("cq-jj", "江津区", "Jiangjin District", _D, "500116", 106.259, 29.290),
    Unit("cq-hc", "合川区", "Hechuan District", _D, "500117", 106.276, 29.972),
    Unit("cq-yc", "永川区", "Yongchuan District", _D, "500118", 105.927, 29.356),
    Unit("cq-nc", "南川区", "Nanchuan District", _D, "500119", 107.099, 29.157),
    Unit("cq-bs", "璧山区", "Bishan District", _D, "500120", 106.227, 29.592),
    Unit("cq-tl", "铜梁区", "Tongliang District", _D, "500151", 106.056, 29.845),
    Unit("cq-tn", "潼南区", "Tongnan District", _D, "500152", 105.840, 30.191),
    Unit("cq-rc", "荣昌区", "Rongchang District", _D, "500153", 105.594, 29.405),
    Unit("cq-kz", "开州区", "Kaizhou District", _D, "500154", 108.393, 31.161),
    Unit("cq-lp", "梁平区", "Liangping District", _D, "500155", 107.769, 30.654),
    Unit("cq-wl", "武隆区", "Wulong District", _D, "500156", 107.760, 29.325),
    Unit("cq-ck", "城口县", "Chengkou County", _C, "500229", 108.665, 31.948),
    Unit("cq-fd", "丰都县", "Fengdu County", _C, "500230", 107.731, 29.864),
    Unit("cq-dj", "垫江县", "Dianjiang County", _C, "500231", 107.333, 30.327),
    Unit("cq-zx", "忠县", "Zhongxian County", _C, "500233", 108.038, 30.300),
    Unit("cq-yy", "云阳县", "Yunyang County", _C, "500235", 108.697, 30.930),
    Unit("cq-fj", "奉节县", "Fengjie County", _C, "500236", 109.401, 31.018),
    Unit("cq-ws", "巫山县", "Wushan County", _C, "500237", 109.879, 31.075),
    Unit("cq-wx", "巫溪县", "Wuxi County", _C, "500238", 109.570, 31.398),
    Unit("cq-sz", "石柱土家族自治县", "Shizhu Tujia Autonomous County", _C, "500240", 108.114, 29.999),
    Unit("cq-xs", "秀山土家族苗族自治县", "Xiushan Tujia and Miao Autonomous County", _C, "500241", 108.989, 28.448),
    Unit("cq-yy2", "酉阳土家族苗族自治县", "Youyang Tujia and Miao Autonomous County", _C, "500242", 108.767, 28.841),
    Unit("cq-ps", "彭水苗族土家族自治县", "Pengshui Miao and Tujia Autonomous County", _C, "500243", 108.166, 29.294),
    Unit("cq-ljxq", "两江新区", "Liangjiang New Area", "new_area", None, 106.634, 29.672),
)

# 2025–2026 public holidays and adjusted working days (国务院办公厅 notices); admins keep later years current.
CALENDAR: tuple[tuple[str, bool, str], ...] = (
    ("2025-01-01", False, "元旦"),
    *((f"2025-01-{d:02d}", False, "春节") for d in range(28, 32)),
    *((f"2025-02-{d:02d}", False, "春节") for d in range(1, 5)),
    ("2025-01-26", True, "春节调休"), ("2025-02-08", True, "春节调休"),
    *((f"2025-04-{d:02d}", False, "清明节") for d in range(4, 7)),
    *((f"2025-05-{d:02d}", False, "劳动节") for d in range(1, 6)), ("2025-04-27", True, "劳动节调休"),
    ("2025-05-31", False, "端午节"), ("2025-06-01", False, "端午节"), ("2025-06-02", False, "端午节"),
    *((f"2025-10-{d:02d}", False, "国庆节、中秋节") for d in range(1, 9)),
    ("2025-09-28", True, "国庆节调休"), ("2025-10-11", True, "国庆节调休"),
    *((f"2026-01-{d:02d}", False, "元旦") for d in range(1, 4)), ("2026-01-04", True, "元旦调休"),
    *((f"2026-02-{d:02d}", False, "春节") for d in range(15, 24)),
    ("2026-02-14", True, "春节调休"), ("2026-02-28", True, "春节调休"),
    *((f"2026-04-{d:02d}", False, "清明节") for d in range(4, 7)),
    *((f"2026-05-{d:02d}", False, "劳动节") for d in range(1, 6)), ("2026-05-09", True, "劳动节调休"),
    ("2026-06-19", False, "端午节"), ("2026-06-20", False, "端午节"), ("2026-06-21", False, "端午节"),
    ("2026-09-25", False, "中秋节"), ("2026-09-26", False, "中秋节"), ("2026-09-27", False, "中秋节"),
    *((f"2026-10-{d:02d}", False, "国庆节") for d in range(1, 8)),
    ("2026-09-20", True, "国庆节调休"), ("2026-10-10", True, "国庆节调休"),
)
