"""Demo step: the data catalog with SYNTHETIC rows, requests in every state, objections and the 三清单.

The five base databases plus thematic and departmental entries; every person, enterprise and licence is generated
(never real).
"""

# ruff: noqa: E501  # long Chinese reference data reads better on one line per field
from __future__ import annotations

import json
import random
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.data import schemas, service
from cityhub.data.base.schemas import BaseFeedSet
from cityhub.demo import collection
from cityhub.kit import clock
from cityhub.kit.errors import NotFound
from cityhub.kit.idcodes import USCC_ALPHABET, credit_code_check_char, resident_id_check_char

if TYPE_CHECKING:
    from cityhub.demo import DemoContext

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢傅钟姜崔谭廖范汪陆金石戴贾韦夏邱方侯邹熊孟秦白江阎薛尹段雷黎史龙陶贺顾毛郝龚邵万钱严覃武" \
           "欧阳"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鑫宇浩然思琪梓涵子轩欣怡雨彤俊杰嘉怡晨曦博文梦瑶宏伟建国志强海燕春梅"
DISTRICT_CODES = ["500101", "500102", "500103", "500104", "500105", "500106", "500107", "500108", "500109",
                  "500112", "500113", "500115", "500116", "500117", "500118"]
DISTRICT_NAMES = ["万州区", "涪陵区", "渝中区", "大渡口区", "江北区", "沙坪坝区", "九龙坡区", "南岸区", "北碚区",
                  "渝北区", "巴南区", "长寿区", "江津区", "合川区", "永川区"]
STREETS = ["解放碑", "观音桥", "三峡广场", "杨家坪", "南坪", "两路", "龙头寺", "大坪", "石桥铺", "鱼洞"]
INDUSTRIES = ["科技", "商贸", "建筑工程", "物流", "餐饮管理", "农业开发", "文化传媒", "汽车零部件", "电子信息", "医药"]
WORDS = ["山城", "渝新", "巴渝", "长江", "嘉陵", "两江", "江城", "渝信", "雾都", "渝美", "渝安", "朝天"]


def synthetic_id(rng: random.Random, birth: date, female: bool) -> str:
    """A well-formed GB 11643 citizen ID number for a generated person (checksum valid, person fictitious)."""
    seq = rng.randrange(0, 99) * 10 + (rng.choice([0, 2, 4, 6, 8]) if female else rng.choice([1, 3, 5, 7, 9]))
    body = f"{rng.choice(DISTRICT_CODES)}{birth:%Y%m%d}{seq:03d}"
    return body + resident_id_check_char(body)


def synthetic_person(rng: random.Random) -> dict[str, Any]:
    """One fictitious resident."""
    female = rng.random() < 0.5
    birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 66))
    surname = "欧阳" if rng.random() < 0.02 else rng.choice(SURNAMES[:-2])
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2])))
    d = rng.randrange(len(DISTRICT_NAMES))
    return {"name": surname + given, "id_number": synthetic_id(rng, birth, female),
            "phone": rng.choice(["139", "138", "180", "186", "177", "152", "133"]) + f"{rng.randrange(10**8):08d}",
            "gender": "女" if female else "男", "birth_date": birth, "district": DISTRICT_NAMES[d],
            "address": f"重庆市{DISTRICT_NAMES[d]}{rng.choice(STREETS)}街道{rng.randrange(1, 300)}号"}


def synthetic_uscc(rng: random.Random) -> str:
    """A well-formed unified social credit code (企业 9 / 2) for a fictitious enterprise."""
    body = "9150" + rng.choice(DISTRICT_CODES)[2:6] + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + credit_code_check_char(body)


def _i(cn: str, en: str, t: str, length: int = 0, mask: str = "", level: str = "general",
       required: bool = False, element: str = "") -> dict[str, Any]:
    item = {"name_cn": cn, "name_en": en, "data_type": t, "length": length, "masking_rule": mask,
            "security_level": level, "required": required}
    if element:  # the data element (数据标准, seeded by migration 0035) the item follows
        item["element"] = element
    return item


# Items follow the seeded data elements; 性别 keeps the words 男/女 instead of the GB/T 2261.1 codes, so the
# standards conformance report has a real finding to show.
PEOPLE_ITEMS = [_i("姓名", "name", "C", 30, "name", "important", True, "DE00010"),
                _i("公民身份号码", "id_number", "C", 18, "id_number", "important", True, "DE00001"),
                _i("联系电话", "phone", "C", 11, "phone", "important", element="DE00006"),
                _i("性别", "gender", "C", 2, element="DE00003"), _i("出生日期", "birth_date", "D", element="DE00005"), _i("户籍所在区县", "district", "C", 20),
                _i("住址", "address", "C", 100, "address", "important")]
ENTERPRISE_ITEMS = [_i("统一社会信用代码", "uscc", "C", 18, required=True, element="DE00002"),
                    _i("企业名称", "ent_name", "C", 100, element="DE00011"),
                    _i("法定代表人", "legal_rep", "C", 30, "name", "important", element="DE00010"),
                    _i("注册资本(万元)", "reg_capital", "Y", element="DE00013"),
                    _i("成立日期", "est_date", "D", element="DE00012"),
                    _i("登记机关所在区县", "district", "C", 20), _i("经营状态", "status", "C", 10)]


def _entries() -> list[dict[str, Any]]:
    """The demo catalog (provider code, fields, rows kind)."""
    return [
        dict(slug="renkou-jichu-xinxi", org="cq-gaj", title="人口基础信息", classification="base", base_db="population",
             abstract="全市常住及户籍人口的身份、性别、出生日期和住址等基础信息，用于政务服务身份核验和人口统计。",
             tags=["人口", "身份核验", "户籍"], format_category="database", items=PEOPLE_ITEMS, share_type="conditional",
             share_condition="仅限履行法定职责的身份核验，不得留存", legal_basis="《重庆市政务数据资源管理暂行办法》",
             share_mode="api", open_type="none", update_cycle="daily", security_grade="important",
             source_system="人口信息管理系统", rows="people"),
        dict(slug="faren-danwei-jichu-xinxi", org="cq-scjgj", title="法人单位基础信息", classification="base",
             base_db="legal_person", abstract="全市市场主体登记的法人单位名称、统一社会信用代码、法定代表人、注册资本等。",
             tags=["法人", "市场主体", "企业登记"], format_category="database", items=ENTERPRISE_ITEMS,
             share_type="unconditional", share_mode="table", open_type="conditional", open_condition="注册用户",
             update_cycle="daily", security_grade="general", source_system="市场主体登记系统", rows="enterprises"),
        dict(slug="diming-dizhi-xinxi", org="cq-ghzy", title="标准地名地址信息", classification="base", base_db="geo",
             abstract="全市标准地名、门牌地址及其经纬度坐标，支撑空间定位与网格化管理。", tags=["地名", "地址", "空间地理"],
             format_category="database", items=[_i("地名", "place_name", "C", 100, required=True),
                                                 _i("标准地址", "address", "C", 200),
                                                 _i("经度", "lon", "F", element="DE00008"),
                                                 _i("纬度", "lat", "F", element="DE00009"),
                                                 _i("所在区县", "district", "C", 20),
                                                 _i("几何", "geometry", "G")],
             share_type="unconditional", share_mode="table", open_type="unconditional", update_cycle="quarterly",
             security_grade="general", source_system="地理信息公共服务平台", rows="places"),
        dict(slug="qiye-xinyong-pingjia", org="cq-fgw", title="企业公共信用综合评价结果", classification="base",
             base_db="credit", abstract="基于行政许可、行政处罚和履约记录形成的企业公共信用等级。", tags=["信用", "企业"],
             format_category="database", items=[_i("统一社会信用代码", "uscc", "C", 18, required=True,
                                                    element="DE00002"),
                                                 _i("企业名称", "ent_name", "C", 100, element="DE00011"),
                                                 _i("信用等级", "credit_level", "C", 2),
                                                 _i("评价日期", "eval_date", "D")],
             share_type="conditional", share_condition="用于信用监管和联合奖惩", share_mode="api", open_type="none",
             update_cycle="monthly", security_grade="important", source_system="公共信用信息平台", rows="credit"),
        dict(slug="yingye-zhizhao-dianzi-zhengzhao", org="cq-scjgj", title="营业执照电子证照", classification="base",
             base_db="license", abstract="营业执照电子证照照面信息，支撑“免证办”。", tags=["电子证照", "营业执照"],
             format_category="database", items=[_i("证照编号", "license_no", "C", 30, required=True),
                                                 _i("统一社会信用代码", "uscc", "C", 18), _i("企业名称", "ent_name", "C", 100),
                                                 _i("法定代表人", "legal_rep", "C", 30, "name", "important"),
                                                 _i("发证日期", "issue_date", "D")],
             share_type="unconditional", share_mode="api", open_type="none", update_cycle="realtime",
             security_grade="important", source_system="电子证照库", rows="licenses"),
        dict(slug="jumin-shenfenzheng-dianzi-zhengzhao", org="cq-gaj", title="居民身份证电子证照", classification="base",
             base_db="license", abstract="居民身份证电子证照，核心数据，须大数据局与提供部门共同审批。",
             tags=["电子证照", "身份证"], format_category="database",
             items=[_i("公民身份号码", "id_number", "C", 18, "id_number", "core", True),
                    _i("姓名", "name", "C", 30, "name", "core"), _i("签发机关", "issuer", "C", 50)],
             share_type="conditional", share_condition="仅限身份核验场景", share_mode="api", open_type="none",
             update_cycle="realtime", security_grade="core", source_system="电子证照库", rows="idcards"),
        dict(slug="gongjiao-xianlu-yunying", org="cq-jtw", title="公交线路运营数据", classification="theme",
             theme="交通出行", abstract="全市公交线路、站点数量和线路长度。", tags=["公交", "交通"],
             format_category="sheet", items=[_i("线路编号", "route_no", "C", 10, required=True),
                                              _i("线路名称", "line_name", "C", 50), _i("站点数", "stations", "I"),
                                              _i("线路长度(公里)", "length_km", "F")],
             share_type="unconditional", share_mode="file", open_type="unconditional", update_cycle="monthly",
             security_grade="general", source_system="公交智能调度系统", rows="bus"),
        dict(slug="kongqi-zhiliang-xiaoshi", org="cq-sthj", title="空气质量监测小时数据", classification="theme",
             theme="生态环境", abstract="国控、市控空气质量监测站点的小时浓度数据（接口）。", tags=["空气质量", "环境监测"],
             format_category="api", items=[_i("站点名称", "station", "C", 50), _i("时间", "ts", "T"),
                                            _i("AQI", "aqi", "I"), _i("PM2.5", "pm25", "F")],
             share_type="unconditional", share_mode="api", open_type="unconditional", update_cycle="realtime",
             security_grade="general", source_system="环境监测平台", rows="api"),
        dict(slug="shehui-baoxian-canbao", org="cq-rsj", title="社会保险参保信息", classification="department",
             abstract="养老、医疗、失业保险参保状态。", tags=["社保", "参保"], format_category="database",
             items=[_i("姓名", "name", "C", 30, "name", "important"),
                    _i("公民身份号码", "id_number", "C", 18, "id_number", "important", True),
                    _i("参保险种", "insurance", "C", 20), _i("参保状态", "status", "C", 10),
                    _i("月缴费基数", "base_amount", "Y")],
             share_type="conditional", share_condition="用于社会救助、人才政策资格核验", share_mode="api",
             open_type="none", update_cycle="monthly", security_grade="important", source_system="社保经办系统",
             rows="insurance"),
        dict(slug="budongchan-dengji", org="cq-ghzy", title="不动产登记信息", classification="department",
             abstract="不动产权利人及权属信息。", tags=["不动产"], format_category="database",
             items=[_i("不动产单元号", "unit_no", "C", 28), _i("权利人", "owner", "C", 30, "name", "important")],
             share_type="none", legal_basis="《不动产登记暂行条例》第二十七条，依法查询", open_type="none",
             update_cycle="daily", security_grade="important", source_system="不动产登记系统", rows="",
             ),
        *_open_entries(),
        dict(slug="chengshi-guanli-anjian", org="cq-cgj", title="城市管理案件数据", classification="theme",
             theme="城市治理", abstract="数字城管受理的案件、类别和处置结果。", tags=["城管", "案件"],
             format_category="database", items=[_i("案件编号", "case_no", "C", 20), _i("类别", "category", "C", 20),
                                                 _i("受理时间", "accepted_at", "T")],
             share_type="unconditional", share_mode="table", open_type="unconditional", update_cycle="daily",
             security_grade="general", source_system="数字城管系统", rows="", state="pending_review"),
        dict(slug="yiliao-jigou-minglu", org="cq-wjw", title="医疗机构名录", classification="theme", theme="医疗健康",
             abstract="全市医疗机构名称、等级与地址。", tags=["医疗", "医院"], format_category="sheet",
             items=[_i("机构名称", "org_name", "C", 100), _i("等级", "level", "C", 10),
                    _i("地址", "address", "C", 200)],
             share_type="unconditional", share_mode="file", open_type="unconditional", update_cycle="yearly",
             security_grade="general", source_system="卫生健康统计系统", rows="", state="draft"),
    ]


def _open_entries() -> list[dict[str, Any]]:
    """Open datasets of several departments (what the portal's charts count): no personal items, tables loaded."""
    def spec(slug: str, org: str, title: str, theme: str, abstract: str, tags: list[str], items: list[Any],
             cycle: str, rows: str, open_type: str = "unconditional") -> dict[str, Any]:
        return dict(slug=slug, org=org, title=title, classification="theme", theme=theme, abstract=abstract,
                    tags=tags, format_category="sheet", items=items, share_type="unconditional", share_mode="table",
                    open_type=open_type, open_condition="注册用户，注明用途" if open_type == "conditional" else "",
                    update_cycle=cycle, security_grade="general", source_system="政务数据共享交换平台", rows=rows)
    return [
        spec("gongjiao-zhandian", "cq-jtw", "公交站点信息", "交通出行", "全市公交站点名称、所在区县和经纬度。",
             ["公交", "站点"], [_i("站点名称", "stop_name", "C", 50, required=True), _i("所在区县", "district", "C", 20),
                               _i("经度", "lon", "F", element="DE00008"), _i("纬度", "lat", "F", element="DE00009")],
             "monthly", "stops"),
        spec("gonggong-tingchechang", "cq-jtw", "公共停车场信息", "交通出行", "公共停车场名称、地址和泊位数。",
             ["停车", "交通"], [_i("停车场名称", "lot_name", "C", 100), _i("地址", "address", "C", 200),
                               _i("泊位数", "spaces", "I")], "quarterly", "parking"),
        spec("shuizhi-jiance-yuedu", "cq-sthj", "地表水水质月度监测", "生态环境", "主要河流断面的月度水质类别。",
             ["水质", "环境监测"], [_i("断面名称", "section", "C", 50), _i("月份", "month", "C", 7),
                                   _i("水质类别", "water_class", "C", 4)], "monthly", "water"),
        spec("a-ji-jingqu", "cq-whlyw", "A级旅游景区名录", "文化旅游", "全市A级旅游景区名称、等级和所在区县。",
             ["旅游", "景区"], [_i("景区名称", "spot_name", "C", 100), _i("等级", "grade", "C", 4),
                               _i("所在区县", "district", "C", 20)], "yearly", "spots"),
        spec("zhongxiaoxue-minglu", "cq-jw", "中小学校名录", "教育文化", "全市中小学校名称、学段和所在区县。",
             ["学校", "教育"], [_i("学校名称", "school", "C", 100), _i("学段", "stage", "C", 10),
                               _i("所在区县", "district", "C", 20)], "yearly", "schools"),
        spec("yaodian-minglu", "cq-scjgj", "零售药店名录", "医疗健康", "取得药品经营许可的零售药店名称与地址。",
             ["药店", "医疗"], [_i("药店名称", "shop_name", "C", 100), _i("地址", "address", "C", 200),
                               _i("所在区县", "district", "C", 20)], "monthly", "pharmacies", "conditional"),
    ]


def _open_rows(kind: str, rng: random.Random, n: int) -> list[list[Any]]:
    """Rows of the open demo datasets (places and names generated)."""
    d = DISTRICT_NAMES
    if kind == "stops":
        return [[f"{rng.choice(STREETS)}{i}站", rng.choice(d), round(rng.uniform(105.8, 107.2), 6),
                 round(rng.uniform(29.2, 30.0), 6)] for i in range(n)]
    if kind == "parking":
        return [[f"{rng.choice(STREETS)}公共停车场{i}", f"重庆市{rng.choice(d)}{rng.choice(STREETS)}路{rng.randrange(1, 500)}号",
                 rng.randrange(40, 900)] for i in range(n)]
    if kind == "water":
        return [[f"{rng.choice(['长江', '嘉陵江', '乌江', '綦江'])}{rng.choice(STREETS)}断面", f"2026-{m:02d}",
                 rng.choice(["Ⅰ类", "Ⅱ类", "Ⅱ类", "Ⅲ类", "Ⅳ类"])] for m in range(1, 12) for _ in range(n // 11)]
    if kind == "spots":
        return [[f"{rng.choice(WORDS)}{rng.choice(['古镇', '公园', '景区', '博物馆', '湿地'])}{i}",
                 rng.choice(["5A", "4A", "4A", "3A", "3A", "2A"]), rng.choice(d)] for i in range(n)]
    if kind == "schools":
        return [[f"重庆市{rng.choice(d)}{rng.choice(WORDS)}{rng.choice(['小学', '中学', '实验学校'])}{i}",
                 rng.choice(["小学", "初中", "高中", "九年一贯制"]), rng.choice(d)] for i in range(n)]
    if kind == "pharmacies":
        return [[f"{rng.choice(WORDS)}大药房{rng.choice(STREETS)}店{i}",
                 f"重庆市{rng.choice(d)}{rng.choice(STREETS)}路{rng.randrange(1, 500)}号", rng.choice(d)] for i in range(n)]
    return []


def _rows(kind: str, rng: random.Random, n: int) -> list[list[Any]]:
    if kind in OPEN_SIZES:
        return _open_rows(kind, rng, n)
    if kind == "people":
        return [[p["name"], p["id_number"], p["phone"], p["gender"], p["birth_date"], p["district"], p["address"]]
                for p in (synthetic_person(rng) for _ in range(n))]
    if kind in ("enterprises", "credit", "licenses"):
        out = []
        for i in range(n):
            d = rng.randrange(len(DISTRICT_NAMES))
            name = f"重庆{rng.choice(WORDS)}{rng.choice(INDUSTRIES)}有限公司" + (f"{DISTRICT_NAMES[d][:2]}分公司"
                                                                             if i % 7 == 0 else "")
            uscc = synthetic_uscc(rng)
            est = date(1995, 1, 1) + timedelta(days=rng.randrange(0, 365 * 30))
            if kind == "enterprises":
                out.append([uscc, name, synthetic_person(rng)["name"], round(rng.uniform(10, 50000), 2), est,
                            DISTRICT_NAMES[d], rng.choice(["存续", "存续", "存续", "注销", "吊销"])])
            elif kind == "credit":
                out.append([uscc, name, rng.choice(["A", "A", "B", "B", "B", "C", "D"]),
                            date(2026, rng.randrange(1, 11), 1)])
            else:
                out.append([f"DZZZ{est:%Y}{i:08d}", uscc, name, synthetic_person(rng)["name"], est])
        return out
    if kind == "idcards":
        return [[p["id_number"], p["name"], f"重庆市公安局{p['district']}分局"]
                for p in (synthetic_person(rng) for _ in range(n))]
    if kind == "places":
        out = []
        for i in range(n):
            name = f"{rng.choice(STREETS)}{rng.choice(['社区', '小区', '广场', '公园', '学校'])}{i}"
            address = f"重庆市{rng.choice(DISTRICT_NAMES)}{rng.choice(STREETS)}路{rng.randrange(1, 500)}号"
            lon, lat = round(rng.uniform(105.8, 107.2), 6), round(rng.uniform(29.2, 30.0), 6)
            out.append([name, address, lon, lat, rng.choice(DISTRICT_NAMES), _place_geometry(name, lon, lat)])
        return out
    if kind == "bus":
        return [[f"{i + 100}", f"{i + 100}路 {rng.choice(STREETS)}—{rng.choice(STREETS)}", rng.randrange(8, 45),
                 round(rng.uniform(5, 40), 1)] for i in range(n)]
    if kind == "insurance":
        return [[p["name"], p["id_number"], rng.choice(["城镇职工养老", "城乡居民医疗", "失业保险"]),
                 rng.choice(["正常参保", "暂停", "终止"]), round(rng.uniform(3500, 25000), 2)]
                for p in (synthetic_person(rng) for _ in range(n))]
    return []


def _place_geometry(name: str, lon: float, lat: float) -> str:
    """A place's GeoJSON for the 自然资源和空间地理 base database: a park's area (about 600 m across), else its point."""
    if "公园" in name:
        d = 0.003
        ring = [[round(lon - d, 6), round(lat - d, 6)], [round(lon + d, 6), round(lat - d, 6)],
                [round(lon + d, 6), round(lat + d, 6)], [round(lon - d, 6), round(lat + d, 6)],
                [round(lon - d, 6), round(lat - d, 6)]]
        return json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":"))
    return json.dumps({"type": "Point", "coordinates": [lon, lat]}, separators=(",", ":"))


OPEN_SIZES = {"stops": 400, "parking": 150, "water": 132, "spots": 80, "schools": 300, "pharmacies": 200}
SIZES = {"people": 3000, "enterprises": 1200, "credit": 600, "licenses": 600, "idcards": 500, "places": 600,
         "bus": 120, "insurance": 1500, **OPEN_SIZES}


def _actor(session: Session, username: str) -> core.Actor:
    return core.actor_for_username(session, username)


def _request(session: Session, requester: str, entry: Any, items: list[str], purpose: str, system: str,
             **kw: Any) -> Any:
    return service.share_request_create(session, _actor(session, requester), schemas.ShareRequestCreate(
        entry_id=entry.id, items=items, legal_basis="《重庆市政务数据资源共享管理办法》", purpose=purpose,
        consuming_system=system, scenario=purpose, **kw))


ANSWER_HOURS = (6, 30, 52, 96, 20, 140)  # how long the demo's providers take to decide a sharing request


def _answer_hours(n: int, steps: list[str]) -> int:
    """Hours before now at which the n-th demo request is submitted when its provider decides it (else 0)."""
    return ANSWER_HOURS[n % len(ANSWER_HOURS)] if {"provide", "provide_no"} & set(steps) else 0


def _public_usage(session: Session, rng: random.Random, entries: list[Any], now: Any) -> None:
    """Thirty days of citizens' downloads and API calls, counted by the portal's own counters on each day."""
    try:
        for back in range(30, 0, -1):
            clock.set_now(now - timedelta(days=back))
            weekend = (now - timedelta(days=back)).weekday() >= 5
            for e in entries:
                for _ in range(rng.randrange(0, 3 if weekend else 7)):
                    service.record_download(session, e.id)
            for _ in range(rng.randrange(20, 60 if weekend else 160)):
                service.record_api_call(session)
            service.flush_api_calls(session)
    finally:
        clock.set_now(None)


def build(session: Session, ctx: DemoContext) -> dict[str, int]:  # noqa: C901  # the demo's story step by step, each step idempotent on its own
    """Create what is missing of the demo catalog and its workflows."""
    rng = random.Random(20261125)
    bureau = _actor(session, "dsj-reviewer")
    bureau_chief = _actor(session, "dsj-chief")
    try:
        service.catalog_entry_by_name(session, ctx.actor, "renkou-jichu-xinxi")
        ctx.log("demo: data — catalog exists, skipped")
        return {"entries": 0, "rows": 0, "requests": 0}
    except NotFound:
        pass
    entries: dict[str, Any] = {}
    loaded: list[str] = []  # entries with a datastore table (what the public can download)
    total_rows = 0
    for spec in _entries():
        spec = dict(spec)
        org = core.organization_by_code(session, spec.pop("org"))
        assert org is not None
        staff = _actor(session, f"{org.code.removeprefix('cq-')}-staff")
        kind, state, slug = spec.pop("rows"), spec.pop("state", "published"), spec.pop("slug")
        entry = service.catalog_entry_create(session, staff, schemas.EntryCreate.model_validate(
            {**spec, "name": slug, "provider_org_id": org.id}))
        entries[slug] = entry
        if state == "draft":
            continue
        service.catalog_entry_submit(session, staff, entry.id)
        if state == "pending_review":
            continue
        service.catalog_entry_review(session, bureau, entry.id, True, "符合编目规范")
        if kind in SIZES:
            rows = _rows(kind, rng, SIZES[kind])
            service.datastore_bulk_load(session, staff, entry.id, rows, title=f"{entry.title}（库表）")
            loaded.append(slug)
            total_rows += len(rows)
        elif kind == "api":
            service.resource_api_create(session, staff, entry.id, schemas.ResourceApiCreate(
                title="空气质量小时数据接口", upstream_url="https://aqi.sthjj.cq.example/aqi/hourly",  # never resolves
                credentials={"X-Api-Key": "demo-upstream-key"}))
    # The place register feeds the 自然资源和空间地理 base database: points and park areas with validated geometry.
    if "diming-dizhi-xinxi" in loaded:
        service.base_feed_set(session, bureau, BaseFeedSet(
            base_db="geo", entry_id=entries["diming-dizhi-xinxi"].id, key_item="place_name", priority=1))
        service.base_merge(session, bureau, "geo")
    # A re-reviewed change (version 2 with a readable diff).
    people = entries["renkou-jichu-xinxi"]
    gaj = _actor(session, "gaj-staff")
    service.catalog_entry_update(session, gaj, people.id, schemas.EntryUpdate(
        abstract=people.abstract + "新增住址信息项。", tags=[*people.tags, "住址"]))
    service.catalog_entry_submit(session, gaj, people.id)
    service.catalog_entry_review(session, bureau, people.id, True, "变更合规")
    # Requests in every state.
    counts = {"requests": 0}
    real_now = clock.now()

    def req(requester: str, slug: str, items: list[str], purpose: str, system: str, steps: list[str],
            **kw: Any) -> Any:
        # a provider answers hours after the submission (the evaluation's response time): submitted that long
        # ago, decided now
        back = _answer_hours(counts["requests"], steps)
        if back:
            clock.set_now(real_now - timedelta(hours=back))
        r = _request(session, requester, entries[slug], items, purpose, system, **kw)
        who = _actor(session, requester)
        provider = _actor(session, f"{core.organization_get(session, ctx.actor, entries[slug].provider_org_id).code.removeprefix('cq-')}-staff")
        for step in steps:
            if step == "submit":
                service.share_request_submit(session, who, r.id)
            elif step == "comply":
                service.share_request_compliance_review(session, bureau, r.id, True, "合规")
            elif step == "comply_no":
                service.share_request_compliance_review(session, bureau, r.id, False, "用途与职责不符")
            elif step == "provide":
                clock.set_now(None)  # the provider decides now
                service.share_request_provider_review(session, provider, r.id, True, "同意共享")
            elif step == "provide_no":
                clock.set_now(None)
                service.share_request_provider_review(session, provider, r.id, False, "申请信息项超出业务需要")
            elif step == "final":
                service.share_request_compliance_review(session, bureau_chief, r.id, True, "核心数据批准")
            elif step == "activate":
                service.share_request_activate(session, who, r.id)
            elif step == "coordinate":
                service.share_request_coordinate(session, who, r.id, "该信息项为法定职责必需")
            elif step == "arbitrate":
                service.share_request_arbitrate(session, bureau, r.id, False, "维持原决定")
            elif step == "withdraw":
                service.share_request_withdraw(session, who, r.id, "需求变更")
            elif step == "revoke":
                service.share_request_revoke(session, provider, r.id, "超范围使用")
            elif step == "close":
                service.share_request_close(session, who, r.id, "接受")
        counts["requests"] += 1
        return r

    req("mzj-staff", "renkou-jichu-xinxi", ["name", "id_number", "gender"], "低保资格核验", "社会救助系统", [])
    req("rsj-staff", "renkou-jichu-xinxi", ["name", "id_number", "phone"], "就业补贴核验", "就业服务系统",
        ["submit"])
    req("jw-staff", "renkou-jichu-xinxi", ["name", "id_number", "birth_date"], "入学资格审核", "招生入学系统",
        ["submit", "comply"])
    req("swj-staff", "qiye-xinyong-pingjia", ["uscc", "credit_level"], "纳税信用联合评价", "税收征管系统",
        ["submit", "comply", "provide"])
    req("mzj-staff", "renkou-jichu-xinxi", ["name", "id_number", "gender", "district"], "社会救助资格核验",
        "社会救助系统", ["submit", "comply", "provide", "activate"], quota=100_000)
    req("sww-staff", "faren-danwei-jichu-xinxi", ["uscc", "ent_name", "legal_rep", "status"], "外贸企业备案核验",
        "商务综合系统", ["submit", "comply", "activate"])
    req("wjw-staff", "shehui-baoxian-canbao", ["name", "id_number", "insurance"], "医保关系核验", "卫健系统",
        ["submit", "comply", "provide_no"])
    req("jtw-staff", "renkou-jichu-xinxi", ["name", "id_number", "phone", "address"], "网约车驾驶员背景审查",
        "交通执法系统", ["submit", "comply", "provide_no", "coordinate"])
    req("cgj-staff", "renkou-jichu-xinxi", ["name", "phone"], "违法案件当事人联系", "数字城管系统",
        ["submit", "comply_no", "coordinate", "arbitrate"])
    req("yjj-staff", "shehui-baoxian-canbao", ["name", "insurance"], "应急救助", "应急指挥系统",
        ["submit", "withdraw"])
    req("fgw-staff", "renkou-jichu-xinxi", ["district", "gender"], "人口结构分析", "宏观经济分析系统",
        ["submit", "comply", "provide", "activate", "revoke"])
    req("ybj-staff", "jumin-shenfenzheng-dianzi-zhengzhao", ["id_number", "name"], "医保电子凭证实名核验",
        "医保信息平台", ["submit", "comply", "provide", "final", "activate"])
    req("tjj-staff", "shehui-baoxian-canbao", ["insurance", "status"], "参保统计", "统计分析系统",
        ["submit", "comply", "provide_no", "close"])
    # An expired grant and an overdue provider review: created in the past, then the deadline check runs.
    clock.set_now(real_now - timedelta(days=45))
    try:
        req("kjj-staff", "faren-danwei-jichu-xinxi", ["uscc", "ent_name"], "科技型企业认定", "科技管理系统",
            ["submit", "comply", "activate"], valid_until=real_now - timedelta(days=2))
        req("czj-staff", "shehui-baoxian-canbao", ["name", "base_amount"], "财政补贴测算", "预算管理系统",
            ["submit", "comply"])
    finally:
        clock.set_now(None)
    sla = service.sla_check(session, ctx.actor)
    # Objections in each state and the 需求清单.
    mzj = _actor(session, "mzj-staff")
    o1 = service.objection_raise(session, mzj, schemas.ObjectionCreate(
        kind="catalog_error", entry_id=people.id, content="“户籍所在区县”应使用行政区划代码"))
    o2 = service.objection_raise(session, mzj, schemas.ObjectionCreate(
        kind="catalog_error", entry_id=entries["faren-danwei-jichu-xinxi"].id, content="注册资本单位未注明币种"))
    service.objection_reply(session, _actor(session, "scjgj-staff"), o2.id, "已补充说明为人民币万元")
    service.objection_evaluate(session, mzj, o2.id, 5, "处理及时")
    service.objection_accept(session, gaj, o1.id)
    demands = [("新生儿出生医学证明信息", "办理出生一件事需要核验出生医学证明", "出生一件事联办", "cq-wjw"),
               ("企业水电气缴费信息", "用于企业信用评价", "信用评价", "cq-fgw"),
               ("残疾人证信息", "用于残疾人补贴自动发放", "惠残政策免申即享", None)]
    for title, desc, purpose, assignee in demands:
        dem = service.demand_create(session, mzj, schemas.DemandCreate(title=title, description=desc,
                                                                       purpose=purpose))
        if assignee:
            org = core.organization_by_code(session, assignee)
            assert org is not None
            service.demand_assign(session, bureau, dem.id, schemas.DemandAssign(org_id=org.id))
            if assignee == "cq-fgw":
                service.demand_answer(session, _actor(session, "fgw-staff"), dem.id, schemas.DemandAnswer(
                    entry_id=entries["qiye-xinyong-pingjia"].id, answer="已在信用评价目录中提供"))
    _public_usage(session, rng, [entries[slug] for slug in loaded if entries[slug].open_type == "unconditional"],
                  real_now)
    collection.build(session, ctx, {"gaj": gaj, "scjgj": _actor(session, "scjgj-staff")}, bureau, {
        "person": synthetic_person, "uscc": synthetic_uscc, "districts": DISTRICT_NAMES, "people_items": PEOPLE_ITEMS,
        "enterprise_items": ENTERPRISE_ITEMS})
    deadlines = (f"deadlines checked: {sla['reminded']} reminded, {sla['escalated']} escalated to the bureau, "
                 f"{sla['expired']} grants expired, {sla['objections_overdue']} objections and "
                 f"{sla['demands_overdue']} needs overdue")
    ctx.log(f"demo: data — {len(entries)} entries, {total_rows} synthetic rows, {counts['requests']} requests; "
            f"{deadlines}")
    return {"entries": len(entries), "rows": total_rows, "requests": counts["requests"]}
