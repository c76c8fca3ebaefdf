"""Catalog items naming a data element: checked when an entry is written (the catalog calls this)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.data.standards.models import DataElement, StandardStatus
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _


def check_item_elements(session: Session, items: list[dict[str, Any]]) -> None:
    """Every `element` an item names is a published data element (else a 422 naming `items.<n>.element`)."""
    wanted = {str(it["element"]) for it in items if it.get("element")}
    if not wanted:
        return
    status = dict(session.execute(select(DataElement.identifier, DataElement.status)
                                  .where(DataElement.identifier.in_(wanted))).tuples().all())
    for n, it in enumerate(items):
        ident = it.get("element")
        if not ident:
            continue
        if ident not in status:
            raise ValidationFailed(_("Unknown data element"), field=f"items.{n}.element")
        if status[ident] != StandardStatus.PUBLISHED:
            raise ValidationFailed(_("The data element is not published"), field=f"items.{n}.element")
