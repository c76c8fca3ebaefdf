"""Reference data as frozen dataclasses: GB/T 20988 disaster-recovery levels and the yearly ratio targets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DrLevel:
    """One GB/T 20988-2007 disaster-recovery capability level with its RPO/RTO bounds (minutes)."""

    level: int
    name: str
    name_en: str
    rpo_text: str
    rto_text: str
    rpo_max_min: int
    rto_max_min: int
    rpo_text_en: str = ""
    rto_text_en: str = ""

    def in_locale(self, locale: str) -> dict[str, object]:
        """The level for a reader of `locale`: RPO and RTO texts in that language, the name in both as before."""
        en = locale == "en"
        return {"level": self.level, "name": self.name, "name_en": self.name_en,
                "rpo_text": self.rpo_text_en if en else self.rpo_text,
                "rto_text": self.rto_text_en if en else self.rto_text,
                "rpo_max_min": self.rpo_max_min, "rto_max_min": self.rto_max_min}


DR_LEVELS: tuple[DrLevel, ...] = (
    DrLevel(1, "基本支持", "Basic support", "1–7 天", "2 天以上", 7 * 1440, 7 * 1440,
            "1–7 days", "more than 2 days"),
    DrLevel(2, "备用场地支持", "Alternate site", "1–7 天", "24 小时以后", 7 * 1440, 2 * 1440,
            "1–7 days", "after 24 hours"),
    DrLevel(3, "电子传输和部分设备支持", "Electronic vaulting, partial equipment", "数小时至 1 天",
            "12 小时以上", 1440, 1440, "hours to 1 day", "more than 12 hours"),
    DrLevel(4, "电子传输及完整设备支持", "Electronic vaulting, full equipment", "数小时至 1 天",
            "数小时至 2 天", 1440, 720, "hours to 1 day", "hours to 2 days"),
    DrLevel(5, "实时数据传输及完整设备支持", "Real-time transfer, full equipment", "0–30 分钟",
            "数分钟至 2 天", 30, 120, "0–30 minutes", "minutes to 2 days"),
    DrLevel(6, "数据零丢失和远程集群支持", "Zero data loss, remote cluster", "0", "数分钟", 0, 15,
            "0", "minutes"),
)
DR_ROLES = ("primary", "same_city_backup", "same_city_active", "remote_dr")


def dr_level(n: int) -> DrLevel:
    """The level record for 1–6."""
    return DR_LEVELS[max(1, min(6, n)) - 1]


def level_for(rpo_minutes: int, rto_minutes: int) -> int:
    """The highest level whose RPO and RTO bounds a drill's achieved figures meet."""
    best = 1
    for lv in DR_LEVELS:
        if rpo_minutes <= lv.rpo_max_min and rto_minutes <= lv.rto_max_min:
            best = lv.level
    return best


@dataclass(frozen=True)
class RatioTarget:
    """A target of a ratio for one level of government from a year on (the latest year's target holds later).

    The programme sets 整合率 per level, not per year: 市级 (city departments) 75 %, 区县 (districts, counties and
    new areas) 50 %. It was once read as 50 % in 2019 rising to 75 % in 2020, which held a district to the city
    departments' 75 % (issue 21); `tests/cloud/test_service.py` guards the reading.
    """

    ratio: str  # on_cloud | integration
    level: str  # city (市级部门) | district (区县)
    year: int
    target: float


RATIO_TARGETS: tuple[RatioTarget, ...] = (
    RatioTarget("on_cloud", "city", 2019, 0.75),
    RatioTarget("on_cloud", "district", 2019, 0.75),
    RatioTarget("integration", "city", 2019, 0.75),
    RatioTarget("integration", "district", 2019, 0.50),
)
LEVELS = ("city", "district")
DISTRICT_KINDS = frozenset({"district", "county", "new_area"})  # 区县: held to the district level's targets


def level_of(kind: str | None) -> str:
    """The target level of an organisation kind: districts, counties and new areas are 区县, the rest 市级."""
    return "district" if kind in DISTRICT_KINDS else "city"


def target_for(ratio: str, year: int, level: str = "city") -> float:
    """The target of `ratio` in `year` for `level` (0 before the first target)."""
    found = [t for t in RATIO_TARGETS if t.ratio == ratio and t.level == level and t.year <= year]
    return max(found, key=lambda t: t.year).target if found else 0.0
