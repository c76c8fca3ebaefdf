"""A scenario's page (/apply/scenarios/{id}): what it is and uses, its KPIs and its budget, with their forms.

KPIs show target against actual, the budget planned against spent; the forms are for those who may change them
(the owner unit's staff, the bureau) until the scenario is accepted.

Mounted with the cockpit's router (`apply/pages.py`, `extra_routers`); every member of staff reads it.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from cityhub.apply import policies, schemas
from cityhub.apply import service as apply
from cityhub.cloud import service as cloud
from cityhub.connect import service as connect
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.core.deps import CurrentActor
from cityhub.kit.errors import NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, SessionRoute, form_action, render

router = APIRouter(prefix="/apply/scenarios", include_in_schema=False, route_class=SessionRoute)
Csrf = Annotated[str, Form(max_length=100)]
TONES = {"declared": "", "building": "warn", "built": "ok", "accepted": "ok"}
BLANK_ROWS = 3  # empty KPI rows the form offers beyond the existing ones
Texts = Annotated[list[str], Form(max_length=100)]


def _number(text: str, field: str, required: bool = False) -> float | None:
    """A form's number (empty: none, unless required); anything else is a 422 naming the field."""
    if not text.strip():
        if required:
            raise ValidationFailed(_("Enter a number"), field=field)
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValidationFailed(_("Enter a number"), field=field)
    return value


def _named(session: Session, actor: Actor, ids: list[uuid.UUID],
           get: Callable[[Session, Actor, uuid.UUID], Any]) -> tuple[list[str], int]:
    """The names of the linked objects the viewer may see (through their layer's own get), and how many others."""
    names = []
    for i in ids:
        try:
            names.append(str(get(session, actor, i).name))
        except NotFound:
            continue
    return names, len(ids) - len(names)


@router.get("/{scenario_id}")
def scenario(request: Request, session: DbSession, actor: CurrentActor, scenario_id: uuid.UUID) -> Response:
    """The scenario with its KPIs and budget."""
    s = apply.scenarios.scenario_get(session, actor, scenario_id)
    kpis = apply.scenarios.scenario_kpis(session, actor, scenario_id)
    names = core.organization_names(session)
    planned, spent = s.budget_planned, s.budget_spent
    budget: dict[str, Any] = {"planned": planned, "spent": spent,
                              "rate": round(spent / planned, 4) if planned and spent is not None else None}
    budget["overrun"] = budget["rate"] is not None and budget["rate"] > 1
    edits = s.status != "accepted" and policies.may_report(actor, s.owner_org_id)
    linked = {"devices": _named(session, actor, s.device_ids, connect.device_get),
              "resources": _named(session, actor, s.cloud_resource_ids, cloud.resource_get)}
    return render(request, "apply/scenario.html", {
        "s": s, "kpis": kpis, "budget": budget, "names": names, "tones": TONES, "edits": edits,
        "blank": range(BLANK_ROWS), "linked": linked, "pictures": policies.may_report(actor, s.owner_org_id)})


@router.post("/{scenario_id}/picture")
async def scenario_picture(request: Request, session: DbSession, actor: CurrentActor, scenario_id: uuid.UUID,
                           csrf_token: Csrf, file: Annotated[UploadFile, File()]) -> Response:
    """The owner unit (or the bureau) sets the picture the public showcase shows once the scenario is accepted."""
    content = await file.read(apply.files.MAX_BYTES + 1)
    with form_action(request, session, csrf_token, _("Picture saved")) as done:
        apply.scenarios.scenario_picture_set(session, actor, scenario_id, file.filename or "picture", content)
    return done.redirect(f"/apply/scenarios/{scenario_id}#picture")


@router.post("/{scenario_id}/kpis")
def scenario_kpis(request: Request, session: DbSession, actor: CurrentActor, scenario_id: uuid.UUID,
                  csrf_token: Csrf, name: Texts = (), unit: Texts = (),  # type: ignore[assignment]  # FastAPI reads an empty list
                  target: Texts = (), actual: Texts = ()) -> Response:  # type: ignore[assignment]  # as above
    """Replace the KPIs with the form's rows (a row without a name is left out)."""
    with form_action(request, session, csrf_token, _("KPIs saved")) as done:
        rows: list[dict[str, Any]] = []
        for i, n in enumerate(name):
            if not n.strip():
                continue
            at = len(rows)
            rows.append({"name": n, "unit": unit[i] if i < len(unit) else "",
                         "target": _number(target[i] if i < len(target) else "", f"kpis.{at}.target", True),
                         "actual": _number(actual[i] if i < len(actual) else "", f"kpis.{at}.actual")})
        apply.scenarios.scenario_kpis_set(session, actor, scenario_id,
                                          schemas.ScenarioKpisSet.model_validate({"kpis": rows}))
    return done.redirect(f"/apply/scenarios/{scenario_id}#kpis")


@router.post("/{scenario_id}/budget")
def scenario_budget(request: Request, session: DbSession, actor: CurrentActor, scenario_id: uuid.UUID,
                    csrf_token: Csrf, budget_planned: Annotated[str, Form(max_length=30)] = "",
                    budget_spent: Annotated[str, Form(max_length=30)] = "") -> Response:
    """Set the budget, planned and spent (万元)."""
    with form_action(request, session, csrf_token, _("Budget saved")) as done:
        apply.scenarios.scenario_budget_set(session, actor, scenario_id, schemas.ScenarioBudgetSet(
            budget_planned=_number(budget_planned, "budget_planned"),
            budget_spent=_number(budget_spent, "budget_spent")))
    return done.redirect(f"/apply/scenarios/{scenario_id}#budget")
