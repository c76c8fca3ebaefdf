"""The demo's stub department system: the Market Regulation Administration's licence registry (演示用).

**Clearly the demo's**: it serves made-up licence records so that the demo hub has a real upstream component
(`licence-registry`, 业务协同) whose calls leave the server through the gateway's pooled client, breaker and egress
checks. `make run` starts it on 127.0.0.1:CITYHUB_COMPUTE_DEMO_UPSTREAM_PORT (`cityhub compute demo-upstream`).

It trusts only the gateway: a call without a valid `X-Cityhub-Signature` (HMAC over timestamp, app, org, method
and path with the key derived from CITYHUB_SECRET_KEY, at most five minutes old) is a 401, which is how a real
department system would check who is calling. `GET /api/licences/{统一社会信用代码}` (or
`GET /api/licences?credit_code=…`, the form a batch job's rows call) answers the licence (the code checked by the
id-check built-in; 404 for a code the registry does not hold, deterministically one in ten), `GET /healthz`
answers itself.

The registry also offers its **electronic business licences as a paged feed** to the big-data bureau's collection
(issue 20: an HTTP JSON API source): `GET /api/licence-feed?page=1&size=100` answers `{"records": […], "total": N}`
in a stable order, one licence per legal person of the registry's own register (the demo's department system,
table `scztdj` of `<var>/data/sources/demo-department-system.db`, written by the demo). It takes a department API
token instead of the gateway's signature, `Authorization: Bearer <feed_token()>`, as such feeds usually do.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

import orjson

from cityhub.compute.builtins.idcheck import credit_code
from cityhub.compute.gateway.service import identity_headers
from cityhub.kit.settings import get_settings

STATUSES = ("存续", "存续", "存续", "在业", "迁出")
KINDS = ("有限责任公司", "股份有限公司", "个人独资企业", "合伙企业")
NAMES = ("渝信", "山城", "两江", "嘉陵", "长嘉", "巴渝", "缙云", "朝天")
TRADES = ("科技", "商贸", "物流", "餐饮管理", "建筑工程", "文化传媒")


def _signed(headers: dict[str, str], method: str, path: str) -> bool:
    try:
        ts = int(headers.get("x-cityhub-timestamp", ""))
        app_id, org_id = uuid.UUID(headers.get("x-cityhub-app", "")), uuid.UUID(headers.get("x-cityhub-org", ""))
    except ValueError:
        return False
    if abs(time.time() - ts) > 300:
        return False
    expected = identity_headers(app_id, org_id, method, path, ts)["X-Cityhub-Signature"]
    return hmac.compare_digest(expected, headers.get("x-cityhub-signature", ""))


def licence(code: str) -> tuple[int, dict[str, Any]]:
    """The registry's answer for a credit code (made up, the same every time)."""
    check = credit_code(code)
    if not check["valid"]:
        return 422, {"error": "invalid_code", "errors": check["errors"]}
    h = hashlib.sha256(code.encode()).digest()
    if h[0] % 10 == 0:
        return 404, {"error": "not_found", "message": "本登记机关无此统一社会信用代码"}
    name = f"重庆{NAMES[h[1] % len(NAMES)]}{TRADES[h[2] % len(TRADES)]}{KINDS[h[3] % len(KINDS)]}"
    year = 2000 + h[4] % 25
    return 200, {"credit_code": code, "name": name, "status": STATUSES[h[5] % len(STATUSES)],
                 "established": f"{year}-{1 + h[6] % 12:02d}-{1 + h[7] % 28:02d}",
                 "registrar": "重庆市市场监督管理局（演示数据）", "demo": True}


FEED_MAX_SIZE = 500
_CST = timezone(timedelta(hours=8))
_FEED_STATUS = {"存续": "有效", "在业": "有效", "注销": "注销", "吊销": "吊销"}


def feed_token() -> str:
    """The department API token of the licence feed (derived from CITYHUB_SECRET_KEY, so the demo can register it)."""
    key = get_settings().secret_key.encode()
    return hmac.new(key, b"cityhub-demo-licence-feed", hashlib.sha256).hexdigest()[:40]


def register_path() -> Any:
    """The registry's own register of legal persons (the demo's department system)."""
    return get_settings().var_dir / "data" / "sources" / "demo-department-system.db"


def licence_feed(query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """One page of electronic business licences, in the register's order (`page` from 1, `size` up to 500)."""
    try:
        page, size = int(query.get("page", "1")), int(query.get("size", "100"))
    except ValueError:
        return 400, {"error": "bad_paging", "message": "page and size must be integers"}
    if page < 1 or not 1 <= size <= FEED_MAX_SIZE:
        return 400, {"error": "bad_paging", "message": f"page >= 1, 1 <= size <= {FEED_MAX_SIZE}"}
    path = register_path()
    if not path.exists():
        return 200, {"records": [], "total": 0}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        total = int(con.execute("SELECT COUNT(*) FROM scztdj").fetchone()[0])
        rows = con.execute("SELECT rowid, tyshxydm, qymc, fddbr, clrq, djjg, jyzt FROM scztdj ORDER BY rowid "
                           "LIMIT ? OFFSET ?", (size, (page - 1) * size)).fetchall()
    except sqlite3.Error as exc:
        return 503, {"error": "register_unavailable", "message": str(exc)}
    finally:
        con.close()
    start = datetime(2026, 12, 1, tzinfo=_CST)
    records = []
    for rowid, code, name, rep, est, district, status in rows:
        issued = date.fromisoformat(est)
        records.append({
            "zzbh": f"YYZZ{code}", "zzlx": "营业执照", "tyshxydm": code, "czztmc": name, "fddbr": rep,
            "fzjg": f"{district}市场监督管理局", "fzrq": issued.isoformat(), "yxqz": None,
            "zzzt": _FEED_STATUS.get(status, "有效"),
            "gxsj": (start + timedelta(minutes=int(rowid))).isoformat(timespec="seconds")})
    return 200, {"records": records, "total": total}


def _feed_caller(headers: dict[str, str]) -> bool:
    return hmac.compare_digest(headers.get("authorization", ""), f"Bearer {feed_token()}")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The stub's ASGI app."""
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    if path == "/healthz":
        status, body = 200, {"status": "ok", "demo": True}
    elif path == "/api/licence-feed" and scope["method"] in ("GET", "HEAD"):
        if _feed_caller(headers):
            status, body = licence_feed(dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))))
        else:
            status, body = 401, {"error": "unauthorized", "message": "A department API token is required"}
    elif not _signed(headers, scope["method"], path):
        status, body = 401, {"error": "unsigned", "message": "Only the capability hub's gateway may call"}
    elif path.startswith("/api/licences/") and scope["method"] in ("GET", "HEAD"):
        status, body = licence(path.removeprefix("/api/licences/"))
    elif path == "/api/licences" and scope["method"] in ("GET", "HEAD"):  # ?credit_code=…: a batch job's rows
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        status, body = licence(query.get("credit_code", ""))
    else:
        status, body = 404, {"error": "not_found"}
    out = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})
