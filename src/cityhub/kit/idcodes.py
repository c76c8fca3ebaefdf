"""The check characters of China's identity numbers, in one place (quality checks, the id-check builtin, demos).

- 公民身份号码 (GB 11643-1999): 17 digits — a GB/T 2260 region code, a birth date YYYYMMDD, a 3-digit sequence — and
  a check character over ISO 7064 MOD 11-2 (weights 2^(17-i) mod 11; a remainder giving 10 is written X).
- 统一社会信用代码 (GB 32100-2015): 18 characters of 0-9 A-Z without I, O, Z, S, V; characters 3-8 a region code;
  the check character over MOD 31 with weights 3^i mod 31.

`resident_id_ok` and `credit_code_ok` are the yes/no rules the data quality checks apply (their PostgreSQL
expressions in data/quality/checks.py are tested for parity with these); compute's id-check builtin explains
what is wrong with a number using the same tables and check characters.
"""

from __future__ import annotations

from datetime import date

from cityhub.kit import clock

PROVINCES = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区", "21": "辽宁省",
    "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省",
    "36": "江西省", "37": "山东省", "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省",
    "45": "广西壮族自治区", "46": "海南省", "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省",
    "54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区", "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
}
ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
ID_CHECK = "10X98765432"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28


def resident_id_check_char(first17: str) -> str:
    """The check character of a 公民身份号码's first 17 digits."""
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def resident_id_ok(value: str) -> bool:
    """GB 11643-1999: 17 digits (province in GB/T 2260, a calendar birth date) and the MOD 11-2 check character."""
    n = value.strip().upper()
    if len(n) != 18 or not n[:17].isdigit() or n[:2] not in PROVINCES:
        return False
    try:
        born = date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    except ValueError:
        return False
    if born > clock.now().date() or born.year < 1850:
        return False
    return n[17] == resident_id_check_char(n[:17])


def credit_code_check_char(first17: str) -> str:
    """The GB 32100 check character (MOD 31 over the alphabet without I, O, Z, S, V)."""
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def credit_code_ok(value: str) -> bool:
    """GB 32100-2015: 18 characters of its alphabet, a six-digit region code, the MOD 31 check character."""
    c = value.strip().upper()
    if len(c) != 18 or any(ch not in USCC_ALPHABET for ch in c) or not c[2:8].isdigit():
        return False
    return c[17] == credit_code_check_char(c[:17])
