"""Identity number checks that say what is wrong, not only "invalid".

- 公民身份号码 (GB 11643-1999): 6-digit region code (GB/T 2260), birth date YYYYMMDD, 3-digit sequence (odd: male),
  check character over ISO 7064 MOD 11-2 (weights 2^(17-i) mod 11; 10 is written X). The province is checked
  against GB/T 2260; inside Chongqing (50) the county against the districts the project ships, as a warning only,
  since a person keeps the code of the county they were registered in, even after it was renamed or merged.
  15-digit first-generation numbers (no check character, 2-digit year) are read and reported as such.
- 统一社会信用代码 (GB 32100-2015): registration authority, organisation category, 6-digit region code, the 9-character
  organisation code (GB 11714, with its own MOD 11 check character) and the check character over MOD 31
  (weights 3^i mod 31) on the alphabet 0-9 A-Z without I, O, Z, S, V.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from cityhub.compute.builtins import districts
from cityhub.compute.builtins.base import BuiltinRequest, Handler, document, operation
from cityhub.kit import clock
from cityhub.kit.idcodes import PROVINCES, USCC_ALPHABET, credit_code_check_char, resident_id_check_char

_ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]
# GB 32100 table 1: registration authority → the organisation categories it may give
USCC_AUTHORITIES: dict[str, tuple[str, set[str]]] = {
    "1": ("机构编制", {"1", "2", "3", "9"}), "2": ("外交", {"1", "9"}),
    "3": ("司法行政", {"1", "2", "3", "4", "5", "9"}),
    "4": ("文化", {"1", "9"}), "5": ("民政", {"1", "2", "3", "9"}), "6": ("旅游", {"1", "2", "9"}),
    "7": ("宗教", {"1", "2", "9"}), "8": ("工会", {"1", "9"}), "9": ("工商", {"1", "2", "3"}),
    "A": ("中央军委改革和编制办公室", {"1", "9"}), "N": ("农业", {"1", "2", "3", "9"}), "Y": ("其他", {"1"}),
}


def _problem(code: str, message: str, field: str = "number") -> dict[str, str]:
    return {"code": code, "message": message, "field": field}


def _region(code: str, errors: list[dict[str, str]], warnings: list[dict[str, str]], county: bool = True
            ) -> dict[str, Any]:
    province = PROVINCES.get(code[:2])
    if province is None:
        errors.append(_problem("region_unknown", f"Region code {code}: no province {code[:2]} in GB/T 2260"))
        return {"code": code}
    out: dict[str, Any] = {"code": code, "province": province}
    if county and code[4:] == "00":  # a person is registered in a county; an organisation may be at city level
        warnings.append(_problem("region_not_county", f"Region code {code} names a province or city, not a county"))
    if code[:2] == "50":
        name = districts.name_of(code)
        if name is None:
            warnings.append(_problem("region_not_current", f"Region code {code} is not one of Chongqing's current "
                                     "districts and counties (it may be an older code)"))
        else:
            out["county"] = name
    return out


def resident_id(number: str, today: date | None = None) -> dict[str, Any]:
    """Check a 公民身份号码; `valid` is False when any error is found."""
    today = today or clock.now().date()
    n = number.strip().upper()
    errors: list[dict[str, str]] = []
    warnings: list[dict[str, str]] = []
    out: dict[str, Any] = {"number": n}
    if len(n) == 15 and n.isdigit():
        warnings.append(_problem("first_generation", "A 15-digit first-generation number has no check character"))
        body, birth = n, "19" + n[6:12]
        seq = n[12:15]
    elif len(n) == 18 and n[:17].isdigit() and (n[17].isdigit() or n[17] == "X"):
        body, birth, seq = n, n[6:14], n[14:17]
        expected = resident_id_check_char(n[:17])
        out["check_character"] = {"expected": expected, "given": n[17]}
        if n[17] != expected:
            errors.append(_problem("check_character", f"Check character is {n[17]}, should be {expected}"))
    else:
        errors.append(_problem("format", "18 characters (17 digits and a digit or X), or 15 digits"))
        return {**out, "valid": False, "errors": errors, "warnings": warnings}
    out["region"] = _region(body[:6], errors, warnings)
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
    except ValueError:
        errors.append(_problem("birth_date", f"Birth date {birth} is not a calendar date"))
    else:
        out["birth_date"] = born.isoformat()
        if born > today:
            errors.append(_problem("birth_date", f"Birth date {born.isoformat()} is in the future"))
        elif born.year < 1850:
            errors.append(_problem("birth_date", f"Birth date {born.isoformat()} is implausibly early"))
    if seq == "000":
        warnings.append(_problem("sequence", "Sequence 000 is not issued"))
    out["sex"] = "male" if int(seq[-1]) % 2 else "female"
    return {**out, "valid": not errors, "errors": errors, "warnings": warnings}


def _org_code_check(code8: str) -> str | None:
    """The GB 11714 check character of an 8-character organisation code body (None when a character is invalid)."""
    total = 0
    for c, w in zip(code8, _ORG_WEIGHTS, strict=True):
        if c.isdigit():
            v = int(c)
        elif "A" <= c <= "Z":
            v = ord(c) - 55
        else:
            return None
        total += v * w
    r = 11 - total % 11
    return "0" if r == 11 else "X" if r == 10 else str(r)


def credit_code(code: str) -> dict[str, Any]:
    """Check a 统一社会信用代码; `valid` is False when any error is found."""
    c = code.strip().upper()
    errors: list[dict[str, str]] = []
    warnings: list[dict[str, str]] = []
    out: dict[str, Any] = {"code": c}
    bad = sorted({ch for ch in c if ch not in USCC_ALPHABET})
    if len(c) != 18 or bad:
        why = f"characters outside the GB 32100 alphabet: {''.join(bad)}" if bad else f"{len(c)} characters, not 18"
        errors.append(_problem("format", f"18 characters of 0-9 A-Z without I, O, Z, S, V ({why})", "code"))
        return {**out, "valid": False, "errors": errors, "warnings": warnings}
    authority = USCC_AUTHORITIES.get(c[0])
    if authority is None:
        errors.append(_problem("authority", f"Registration authority '{c[0]}' is not in GB 32100", "code"))
    else:
        out["authority"] = authority[0]
        if c[1] not in authority[1]:
            errors.append(_problem("category", f"Organisation category '{c[1]}' is not given by {authority[0]}",
                                   "code"))
    if not c[2:8].isdigit():
        errors.append(_problem("region_format", "Characters 3-8 are the region code: six digits", "code"))
    else:
        region_warnings: list[dict[str, str]] = []
        out["region"] = _region(c[2:8], errors, region_warnings, county=False)
        warnings += [{**w, "field": "code"} for w in region_warnings]
    org_check = _org_code_check(c[8:16])
    out["organisation_code"] = f"{c[8:16]}-{c[16]}"
    if org_check is not None and org_check != c[16]:
        errors.append(_problem("organisation_code", f"Organisation code check character is {c[16]}, "
                               f"should be {org_check}", "code"))
    expected = credit_code_check_char(c[:17])
    out["check_character"] = {"expected": expected, "given": c[17]}
    if c[17] != expected:
        errors.append(_problem("check_character", f"Check character is {c[17]}, should be {expected}", "code"))
    return {**out, "valid": not errors, "errors": errors, "warnings": warnings}


class IdentityChecks:
    """公民身份号码 and 统一社会信用代码, GET with the number in the query or POST with it in a JSON body."""

    name = "id-check"
    title = "Identity number checks (GB 11643, GB 32100)"

    def openapi(self) -> dict[str, Any]:
        """/resident-id and /credit-code."""
        return document(self.title, "公民身份号码校验（GB 11643）与统一社会信用代码校验（GB 32100），返回错误所在", {
            "/resident-id": {"get": operation("Check a 公民身份号码", [("number", "string", True)]),
                             "post": operation("Check a 公民身份号码", [("number", "string", True)], "post")},
            "/credit-code": {"get": operation("Check a 统一社会信用代码", [("code", "string", True)]),
                             "post": operation("Check a 统一社会信用代码", [("code", "string", True)], "post")}})

    def routes(self) -> Mapping[tuple[str, str], Handler]:
        """The routing table."""

        def rid(req: BuiltinRequest) -> dict[str, Any]:
            return resident_id(req.param("number"))

        def uscc(req: BuiltinRequest) -> dict[str, Any]:
            return credit_code(req.param("code"))

        return {("GET", "resident-id"): rid, ("POST", "resident-id"): rid, ("GET", "credit-code"): uscc,
                ("POST", "credit-code"): uscc}
