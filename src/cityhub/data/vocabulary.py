"""The data domain's vocabularies: codes, their names, their labels, the masking rules as data.

Codes with their Chinese names (the standard's wording, kept for outputs whose standard is Chinese: the 目录清单
export, CKAN display names, DCAT literals), their English labels for pages in either language, the Literal types
the schemas validate against, and the masking rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from cityhub.kit import labels

CLASSIFICATIONS = {"base": "基础", "theme": "主题", "department": "部门"}
BASE_DBS = {"population": "人口", "legal_person": "法人", "geo": "自然资源和空间地理", "credit": "社会信用",
            "license": "电子证照"}
FORMATS = {"file": "电子文件", "sheet": "电子表格", "database": "数据库", "image": "图形图像", "stream": "流媒体",
           "self_describing": "自描述格式", "api": "服务接口"}
SHARE_TYPES = {"unconditional": "无条件共享", "conditional": "有条件共享", "none": "不予共享"}
OPEN_TYPES = {"unconditional": "无条件开放", "conditional": "有条件开放", "none": "不予开放"}
SHARE_MODES = {"api": "接口", "file": "文件", "table": "库表", "": "未定"}
UPDATE_CYCLES = {"realtime": "实时", "daily": "每日", "weekly": "每周", "monthly": "每月", "quarterly": "每季度",
                 "half_yearly": "每半年", "yearly": "每年", "irregular": "不定期"}
# Longest gap (days) between loads that still counts as on time, per update cycle (None: not measured).
CYCLE_DAYS: dict[str, int | None] = {"realtime": 1, "daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92,
                                     "half_yearly": 183, "yearly": 366, "irregular": None}
GRADES = {"core": "核心", "important": "重要", "general": "一般"}  # GB/T 43697-2024
DATA_TYPES = {"C": "字符型", "N": "数值型", "Y": "货币型", "D": "日期型", "T": "日期时间型", "L": "逻辑型",
              "M": "备注型", "G": "通用型", "B": "双精度型", "I": "整型", "F": "浮点型"}
OBJECTION_KINDS = {"catalog_error": "目录纠错", "request_objection": "申请异议", "usage_objection": "使用异议"}
RESOURCE_KINDS = {"table": "库表", "api": "接口", "file": "文件"}


# English labels (message ids; the zh_CN catalogue gives back the Chinese names above, which
# tests/data/test_labels.py checks) for pages in either language. The Chinese dicts stay for the outputs whose
# standard is Chinese (the 目录清单 export, CKAN display names, DCAT zh literals).
labels.register("data.classification", {"base": "Base resource", "theme": "Thematic resource",
                                         "department": "Departmental resource"})
labels.register("data.base_db", {"population": "Population", "legal_person": "Legal entities",
                                 "geo": "Natural resources and geospatial", "credit": "Social credit",
                                 "license": "Electronic licences"})
labels.register("data.geometry_kind", {"Point": "Point", "MultiPoint": "Points", "LineString": "Line",
                                        "MultiLineString": "Lines", "Polygon": "Area", "MultiPolygon": "Areas"})
labels.register("data.format", {"file": "Electronic file", "sheet": "Spreadsheet", "database": "Database",
                                "image": "Graphics and images", "stream": "Streaming media",
                                "self_describing": "Self-describing format", "api": "Service interface"})
labels.register("data.share_type", {"unconditional": "Shared unconditionally", "conditional": "Shared on conditions",
                                    "none": "Not shared"})
labels.register("data.open_type", {"unconditional": "Open unconditionally", "conditional": "Open on conditions",
                                   "none": "Not open"})
labels.register("data.share_mode", {"api": "Interface", "file": "File transfer", "table": "Database table",
                                    "": "Not decided"})
labels.register("data.update_cycle", {"realtime": "Real time", "daily": "Every day", "weekly": "Every week",
                                      "monthly": "Every month", "quarterly": "Every quarter",
                                      "half_yearly": "Every half year", "yearly": "Every year",
                                      "irregular": "Irregularly"})
labels.register("data.grade", {"core": "Core data", "important": "Important data", "general": "General data"})
labels.register("data.data_type", {"C": "Text", "N": "Numeric", "Y": "Money", "D": "Date", "T": "Date-time",
                                   "L": "Yes/no", "M": "Long text", "G": "Binary", "B": "Double",
                                   "I": "Integer", "F": "Decimal"})
labels.register("data.objection_kind", {"catalog_error": "Catalog error", "request_objection": "Objection to a request",
                                        "usage_objection": "Objection to a use"})
labels.register("data.resource_kind", {"table": "Database table", "api": "Interface", "file": "Attached file"})
labels.register("data.mask_rule", {
    "id_number": "ID number: 5001**********1234", "phone": "Mobile number: 180****1999", "name": "Name: 张*",
    "address": "Address: first 6 characters kept", "bank_card": "Bank card: last 4 digits kept",
    "email": "E-mail: first 2 characters kept", "uscc": "Credit code: first 8 and last 2 kept",
    "full": "Fully hidden"})
# Themes are free text; the 22 thematic databases of the resource center (the demo's among them) have English
# names, and the center's page counts the entries of each.
THEMES = {"交通出行": "Transport", "生态环境": "Environment", "城市治理": "City management", "医疗健康": "Health",
          "教育文化": "Education and culture", "社会保障": "Social security", "信用服务": "Credit",
          "市场监管": "Market regulation", "公共安全": "Public safety", "农业农村": "Agriculture",
          "城建住房": "Housing and construction", "财税金融": "Finance and tax", "科技创新": "Science and technology",
          "文化旅游": "Culture and tourism", "民生服务": "Public services", "经济发展": "Economic development",
          "政务服务": "Government services", "应急管理": "Emergency management", "自然资源": "Natural resources",
          "劳动就业": "Employment", "社会救助": "Social assistance", "气象服务": "Weather services"}
labels.register("data.theme", {code: name for code, name in THEMES.items()})
# Steps of a sharing request a person takes on the requests page.
labels.register("data.request_action", {
    "submit": "Submit", "withdraw": "Withdraw", "compliance_approve": "Compliance: approve",
    "compliance_reject": "Compliance: reject", "provider_approve": "Agree to share", "provider_reject": "Refuse",
    "coordinate": "Ask the bureau to coordinate", "close": "Accept and close", "arbitrate_approve": "Arbitrate: share",
    "arbitrate_reject": "Arbitrate: uphold refusal", "revoke": "Revoke the grant", "activate": "Activate"})
labels.register("data.licence", {"unconditional": "Creative Commons Attribution 4.0 International (CC BY 4.0)",
                                 "conditional": "Open data licence with conditions", "none": "Not open"})
labels.register("data.list_kind", {"demand": "Need list", "responsibility": "Responsibility list",
                                   "catalog": "Catalog list"})
# Which labelled vocabulary each entry field's codes belong to (pages, version history).
FIELD_VOCAB = {"classification": "data.classification", "base_db": "data.base_db", "format_category": "data.format",
               "share_type": "data.share_type", "open_type": "data.open_type", "share_mode": "data.share_mode",
               "update_cycle": "data.update_cycle", "security_grade": "data.grade", "theme": "data.theme"}

Classification = Literal["base", "theme", "department"]
BaseDb = Literal["", "population", "legal_person", "geo", "credit", "license"]
FormatCategory = Literal["file", "sheet", "database", "image", "stream", "self_describing", "api"]
ShareType = Literal["unconditional", "conditional", "none"]
OpenType = Literal["unconditional", "conditional", "none"]
ShareMode = Literal["api", "file", "table", ""]
UpdateCycle = Literal["realtime", "daily", "weekly", "monthly", "quarterly", "half_yearly", "yearly", "irregular"]
Grade = Literal["core", "important", "general"]
DataType = Literal["C", "N", "Y", "D", "T", "L", "M", "G", "B", "I", "F"]
ObjectionKind = Literal["catalog_error", "request_objection", "usage_objection"]

FACETS = ("provider_org_id", "classification", "base_db", "share_type", "open_type", "format_category",
          "update_cycle", "security_grade")


@dataclass(frozen=True)
class MaskRule:
    """Keep `head` leading and `tail` trailing characters, replace the rest with `char`."""

    label: str
    head: int
    tail: int
    char: str = "*"

    def apply(self, value: Any) -> Any:
        """The masked text (None stays None)."""
        if value is None:
            return None
        s = str(value)
        n = len(s)
        if n == 0:
            return s
        head = min(self.head, n - 1) if n > 1 else 0
        tail = min(self.tail, max(n - head - 1, 0))
        return s[:head] + self.char * (n - head - tail) + (s[n - tail:] if tail else "")


MASK_RULES: dict[str, MaskRule] = {
    "id_number": MaskRule("身份证号 5001**********1234", 4, 4),
    "phone": MaskRule("手机号 180****1999", 3, 4),
    "name": MaskRule("姓名 张*", 1, 0),
    "address": MaskRule("地址 保留前6字", 6, 0),
    "bank_card": MaskRule("银行卡号 保留后4位", 0, 4),
    "email": MaskRule("邮箱 保留前2位", 2, 0),
    "uscc": MaskRule("统一社会信用代码 保留前8后2", 8, 2),
    "full": MaskRule("全部遮蔽", 0, 0),
}
