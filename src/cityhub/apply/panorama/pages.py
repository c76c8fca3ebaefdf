"""The 全景 screen (/apply/panorama): a 1920×1080 command-centre page of the whole programme, refreshed live.

The page renders the first reading in its HTML (it shows at once, and without JavaScript the figures are there)
and then polls `GET /api/v1/apply/panorama` every `REFRESH_S` seconds; a failed poll marks the screen offline
and the next one retries. Mounted with the cockpit's router (`apply/pages.py`, `extra_routers`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cityhub.apply import reference
from cityhub.apply import service as apply
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.kit import labels
from cityhub.kit.web import DbSession, NavItem, SessionRoute, register_nav, render
from cityhub.ops import schemas as ops_schemas

router = APIRouter(prefix="/apply/panorama", include_in_schema=False, route_class=SessionRoute)
register_nav(NavItem("apply", "Programme panorama", "/apply/panorama", order=5, permissions=(P.APPLY_READ,)))
REFRESH_S = 30
BATCH = "cityhub.apply.models.ScenarioBatch"  # the label kind the enum registered
LAYERS = ("cloud", "connect", "data", "compute", "ops", "apply")


@router.get("")
def panorama(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The screen with its first reading; the script keeps it live."""
    data = apply.panorama(session, actor)
    words = {"batches": {b["batch"]: labels.label(b["batch"], BATCH) for b in data["apply"]["scenarios"]},
             "layers": {k: labels.label(k, "apply.layer") for k in LAYERS},
             "sectors": {k: labels.label(k, "apply.sector") for k in reference.SECTORS},
             "severity": {s.value: labels.label(s) for s in ops_schemas.Severity}}
    return render(request, "apply/panorama.html", {"data": data, "words": words, "refresh_s": REFRESH_S})
