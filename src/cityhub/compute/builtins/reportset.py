"""The labelled set of citizen reports the classifier learns from: generated here, shipped as a CSV.

Reports are composed from phrases a resident would write about each ops incident category (ops.schemas.CATEGORIES)
— the thing, what is wrong with it, where, since when, what they ask — with a seeded random choice, and a share of
them mixing in words of another category, so the set is not trivially separable. `python -m
cityhub.compute.builtins.reportset` writes `data/citizen_reports.csv` (text, category); the classifier reads that
file, keeping back the reports that name a held-out phrase to measure its accuracy on unseen phrasings.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

DATA = Path(__file__).with_name("data") / "citizen_reports.csv"
SEED = 20261205
PER_CATEGORY = 220

PLACES = ["解放碑步行街", "观音桥商圈", "南坪万达附近", "沙坪坝三峡广场", "杨家坪转盘", "大坪时代天街", "江北嘴",
          "朝天门码头", "鹅岭公园门口", "北碚缙云山路口", "九龙坡谢家湾", "渝北两路", "巴南鱼洞老街", "大渡口钢花路",
          "龙头寺公园旁", "李子坝轻轨站下面", "菜园坝火车站", "弹子石老街", "礼嘉智慧公园", "西永大学城"]
SINCE = ["", "已经好几天了，", "从昨天晚上开始，", "今天早上发现，", "一个多星期了，", "刚才路过看到，"]
ASK = ["请尽快派人处理。", "麻烦相关部门看一下。", "希望早点解决。", "请尽快维修，谢谢！", "太危险了，请处理。",
       "居民反映很多次了。", ""]

# category → (things, problems)
PHRASES: dict[str, tuple[list[str], list[str]]] = {
    "bridge": (["大桥", "人行天桥", "桥梁", "跨江桥", "立交桥匝道", "桥墩", "桥面伸缩缝", "桥栏杆"],
               ["出现裂缝", "晃动得厉害", "栏杆松动断了", "桥面有明显下沉", "伸缩缝翘起来", "钢筋露出来了",
                "有异响", "护栏被车撞坏"]),
    "pipe_gallery": (["综合管廊", "地下管廊", "管廊检修口", "管廊通风口", "电力隧道", "管廊井盖"],
                     ["往外冒气", "里面积水很深", "有燃气味道", "检修口没有盖好", "通风口一直在响", "有人私自进入",
                      "传出焦糊味", "报警灯一直闪"]),
    "traffic": (["红绿灯", "信号灯", "路口", "交通标志牌", "斑马线", "公交站", "隧道口", "停车场入口"],
                ["坏了不亮", "一直是红灯", "堵得水泄不通", "标志牌被撞歪", "车辆乱停乱放", "经常发生剐蹭",
                 "晚高峰严重拥堵", "车辆逆行很多"]),
    "environment": (["工地", "饭店油烟", "河边", "工厂烟囱", "空气", "夜市", "广场舞音响", "垃圾焚烧"],
                    ["扬尘特别大", "噪音扰民到半夜", "油烟直排呛人", "冒黑烟", "有刺鼻的臭味", "水面漂着死鱼",
                     "空气很差雾霾", "河水发黑发臭"]),
    "building": (["老旧小区房子", "居民楼外墙", "危房", "楼顶广告牌", "阳台", "违章搭建的棚子", "墙皮", "电梯"],
                 ["外墙瓷砖脱落", "墙体开裂", "有倒塌危险", "广告牌摇摇欲坠", "违法加建", "电梯困人", "屋顶漏水",
                  "楼梯扶手断裂"]),
    "road": (["马路", "路面", "人行道", "井盖", "道路护栏", "盲道", "路灯", "边坡"],
             ["出现大坑", "塌陷了一块", "井盖丢失", "地砖松动翘起", "路灯不亮一片漆黑", "边坡有落石", "路面开裂",
              "护栏倒在路上"]),
    "sanitation": (["垃圾桶", "垃圾站", "公共厕所", "小区门口", "街道", "绿化带", "垃圾转运车", "菜市场"],
                   ["垃圾堆满没人清运", "臭气熏天", "厕所脏得不能用", "到处是建筑垃圾", "没人打扫落叶成堆",
                    "苍蝇老鼠很多", "垃圾车漏液", "乱扔垃圾"]),
    "water": (["自来水", "水管", "下水道", "消防栓", "供水管网", "排水沟", "雨水井", "水表"],
              ["停水了", "水管爆裂到处是水", "下水道堵塞反水", "消防栓漏水", "水发黄有异味", "水压很低",
               "下雨就积水内涝", "排水沟冒污水"]),
    "public_safety": (["电动车", "商铺", "小区", "网吧", "燃气罐", "高空", "歌厅", "地下室"],
                      ["在楼道里充电", "消防通道被堵", "有人打架斗殴", "有可疑人员徘徊", "存放大量液化气罐",
                       "高空抛物砸到人", "深夜聚众闹事", "私拉电线有火灾隐患"]),
    "other": (["政策", "办事窗口", "社保", "网上办事", "户口", "学校", "医院挂号", "宠物"],
              ["想咨询一下怎么办理", "工作人员态度不好", "流程太复杂", "网站打不开", "排队时间太长",
               "不知道找哪个部门", "收费不合理", "狗不拴绳吓到小孩"]),
}


# The last thing and the last problem of each category: the reports naming one are held back from training, so
# the accuracy measured on them is on phrasings the model never saw (a random split would repeat phrases it learnt).
HELD_OUT = frozenset(p for things, problems in PHRASES.values() for p in (things[-1], problems[-1]))


def held_back(text: str) -> bool:
    """Is the report kept out of training (it names a held-out thing or problem)?"""
    return any(p in text for p in HELD_OUT)


def generate(seed: int = SEED, per_category: int = PER_CATEGORY) -> list[tuple[str, str]]:
    """The labelled reports, in a seeded random order."""
    rng = random.Random(seed)
    cats = list(PHRASES)
    rows: list[tuple[str, str]] = []
    for cat, (things, problems) in PHRASES.items():
        for _ in range(per_category):
            text = f"{rng.choice(SINCE)}{rng.choice(PLACES)}的{rng.choice(things)}{rng.choice(problems)}，"
            if rng.random() < 0.2:  # a word of another category, as residents mention what is nearby
                other = PHRASES[rng.choice([c for c in cats if c != cat])][0]
                text += f"旁边就是{rng.choice(other)}，"
            rows.append((text + rng.choice(ASK), cat))
    rng.shuffle(rows)
    return rows


def write(path: Path = DATA) -> int:
    """Write the CSV; the number of rows."""
    rows = generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "category"])
        w.writerows(rows)
    return len(rows)


def load(path: Path = DATA) -> list[tuple[str, str]]:
    """The shipped set (generated again when the file is missing)."""
    if not path.exists():
        return generate()
    with path.open(encoding="utf-8", newline="") as f:
        return [(r["text"], r["category"]) for r in csv.DictReader(f)]


if __name__ == "__main__":
    print(write())
