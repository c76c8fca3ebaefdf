"""The 全景 screen (/apply/panorama): a 1920×1080 command-centre page of the whole programme, kept live.

The page renders the stored reading in its HTML (it shows at once, and without JavaScript the figures are there),
then listens to `/apply/panorama/stream`: server-sent events, the ops 大屏's mechanism (`cityhub.live` on the page).
The stream looks at the stored snapshot's version every `CHECK_S` seconds — one primary-key read, never a
computation — and sends the figures (`snapshot`) when the worker has stored a new reading; otherwise an `alive`
event every `ALIVE_S` seconds keeps the page's watchdog quiet. Mounted with the cockpit's router
(`apply/pages.py`, `extra_routers`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from cityhub.apply import reference
from cityhub.apply import service as apply
from cityhub.core.actor import Actor
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.kit import labels
from cityhub.kit.web import DbSession, NavItem, SessionRoute, register_nav, render
from cityhub.ops import schemas as ops_schemas

router = APIRouter(prefix="/apply/panorama", include_in_schema=False, route_class=SessionRoute)
register_nav(NavItem("apply", "Programme panorama", "/apply/panorama", order=5, permissions=(P.APPLY_READ,)))
CHECK_S = 2.0  # how often the stream looks for a new reading
ALIVE_S = 20.0  # an `alive` event at least this often when nothing changed
QUIET_S = 3 * ALIVE_S  # the page reconnects after this long without any event
BATCH = "cityhub.apply.models.ScenarioBatch"  # the label kind the enum registered
LAYERS = ("cloud", "connect", "data", "compute", "ops", "apply")


@router.get("")
def panorama(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The screen with the stored reading; the script keeps it live."""
    data = apply.panorama(session, actor)
    words = {"batches": {b["batch"]: labels.label(b["batch"], BATCH) for b in data["apply"]["scenarios"]},
             "layers": {k: labels.label(k, "apply.layer") for k in LAYERS},
             "sectors": {k: labels.label(k, "apply.sector") for k in reference.SECTORS},
             "severity": {s.value: labels.label(s) for s in ops_schemas.Severity}}
    return render(request, "apply/panorama.html", {"data": data, "words": words, "quiet_s": QUIET_S})


def _read(request: Request, actor: Actor, sent: int | None) -> tuple[int | None, str | None]:
    """The stored version, and the figures as JSON when they are not the version already sent."""
    with request.app.state.db.session_scope() as session:
        version = apply.panorama_version(session, actor)
        if version is not None and version == sent:
            return version, None
        data = apply.panorama(session, actor)
        return data["version"], json.dumps(data, separators=(",", ":"))


@router.get("/stream")
async def stream(request: Request, actor: CurrentActor, once: bool = False) -> StreamingResponse:
    """Server-sent events: the figures each time the worker stores a new reading (`once=1` sends one and ends)."""
    apply.panorama_check(actor)  # refused (403) before the stream starts; no database here: the request's own
    # session is still open until this function returns (on SQLite it holds the write lock)

    async def events() -> AsyncIterator[bytes]:
        yield b"retry: 5000\n\n"
        sent, data = await asyncio.to_thread(_read, request, actor, None)
        quiet = 0.0
        while True:
            if data is not None:
                yield f"event: snapshot\ndata: {data}\n\n".encode()
                quiet = 0.0
            elif quiet >= ALIVE_S:
                yield f"event: alive\ndata: {json.dumps({'version': sent})}\n\n".encode()
                quiet = 0.0
            if once or await request.is_disconnected():
                return
            await asyncio.sleep(CHECK_S)
            quiet += CHECK_S
            sent, data = await asyncio.to_thread(_read, request, actor, sent)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
