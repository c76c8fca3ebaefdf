"""The public showcase of application scenarios (/showcase, 应用场景展示): no login, accepted scenarios only.

Like the open-data portal's pages it is in the portal's area (`core.deps.PORTAL_AREA_SEGMENTS`), so citizens with a
portal account read it too; everybody — staff included — sees the same page: the scenarios the bureau has accepted
(验收), with their batch, year, summary and lead unit. Text is escaped by the templates' autoescape and the page
carries no inline script (the app's CSP).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from cityhub.apply import service as apply
from cityhub.core import service as core
from cityhub.kit import i18n
from cityhub.kit.web import DbSession, SessionRoute, render

router = APIRouter(include_in_schema=False, route_class=SessionRoute)
BATCHES = "^(smart_city|livelihood|5g|data_channel|future_community)$"


@router.get("/showcase")
def showcase(request: Request, session: DbSession,
             batch: str | None = Query(None, pattern=BATCHES)) -> Response:
    """Accepted scenarios by batch, for anyone."""
    english = i18n.get_locale() == "en"
    names = {o.id: (o.name_en or o.name) if english else o.name for o in core.organization_all(session)}
    return render(request, "apply/showcase.html", {
        "items": apply.scenarios.showcase(session, batch), "names": names, "batch": batch})


@router.get("/showcase/{scenario_id}/picture")
def showcase_picture(session: DbSession, scenario_id: uuid.UUID) -> FileResponse:
    """An accepted scenario's picture (404 for any other scenario, or none)."""
    path, media_type = apply.scenarios.showcase_picture(session, scenario_id)
    return FileResponse(path, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"})
