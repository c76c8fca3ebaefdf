"""Entity ids that contain `/` in NGSI-LD paths: `/entities/https%3A%2F%2Fexample.org%2Fbridges%2F7`.

An NGSI-LD id is any URI, and URL ids carry slashes; a client puts one in a path percent-encoded (`%2F`). The
ASGI server decodes the path before routing, so the encoded slash would split the id into several segments and
no route would match. Everything under `/ngsi-ld/` passes here first (a fast path, `app.FastPaths`): when the
raw path has an encoded slash, the path is decoded again segment by segment and a slash inside a segment becomes
`SLASH`, a character no URI holds (a path that decodes to it is left as it was, and its id is refused by the
route's own check). The route then matches one segment, and `deps.NgsiRoute` turns `SLASH` back into `/` in
the path parameters before the endpoint sees them. Guard: `tests/context/test_paths.py`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

from cityhub.context import fast
from cityhub.context.deps import SLASH
from cityhub.kit.web import FAST_PATH_STACK

PREFIX = "/ngsi-ld/"
_EMPTY_SEGMENT = re.compile(r"(?<=/)(?=/)")


def segmented(raw_path: bytes) -> str | None:
    """The path decoded segment by segment, with `SLASH` for a slash encoded inside a segment (None: no change)."""
    if b"%2f" not in raw_path.lower():
        return None
    parts = [unquote(seg) for seg in raw_path.split(b"?", 1)[0].decode("latin-1").split("/")]
    if any(SLASH in p for p in parts):
        return None
    return "/".join(p.replace("/", SLASH) for p in parts)


async def ngsi_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Re-split a path with encoded slashes, then the single-entity GET's fast path or the usual stack."""
    raw = scope.get("raw_path")
    path = segmented(raw) if isinstance(raw, bytes) else None
    if path is not None:
        scope = {**scope, "path": path}
    if "//" in scope["path"]:
        # an empty segment (`/entities//attrs/x`: no entity id) becomes `SLASH`, an id the routes refuse with a
        # 400 BadRequestData (ETSI TP 010_02, 013_02) rather than the application's 404 of an unknown path
        scope = {**scope, "path": _EMPTY_SEGMENT.sub(SLASH, scope["path"])}
    if scope["path"].startswith(fast.PREFIX):
        await fast.entity_app(scope, receive, send)
        return
    stack: ASGIApp = scope[FAST_PATH_STACK]
    await stack(scope, receive, send)
