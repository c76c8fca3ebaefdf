"""Notes the platform writes on a sharing request are stored as codes and read in the reader's language (issue 16).

The deadline pass used to store "validity period ended" in English, shown as-is on the zh page. It now stores a code
(`validity_ended`); the pages show its label, and rows stored before (the English text) read the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from cityhub.data import schemas, service
from cityhub.data.models import RequestEvent, ShareRequest
from cityhub.kit import clock
from tests.data.helpers import published_entry
from tests.web.test_pages import login


def _expired_request(world: Any) -> Any:
    clock.set_now(clock.as_utc(datetime(2026, 9, 1, 2, 0)))
    entry = published_entry(world)
    b = world.actors["org_member_b"]
    req = service.share_request_create(world.session, b, schemas.ShareRequestCreate(
        entry_id=entry.id, items=["name"], legal_basis="依据", purpose="核验", consuming_system="系统",
        valid_until=clock.now() + timedelta(days=60)))
    service.share_request_submit(world.session, b, req.id)
    service.share_request_compliance_review(world.session, world.actors["bureau_member"], req.id, True)
    service.share_request_provider_review(world.session, world.actors["org_member_a"], req.id, True)
    service.share_request_activate(world.session, b, req.id)
    clock.set_now(clock.now() + timedelta(days=61))
    assert service.sla_check(world.session)["expired"] == 1
    return req


def test_the_expiry_note_is_a_code_read_in_each_language(client: Any, world: Any) -> None:
    req = _expired_request(world)
    assert req.status == "expired" and req.reason == service.NOTE_VALIDITY_ENDED
    login(client, "t-b-member")
    zh = client.get("/data/requests").text
    assert zh.count("有效期已届满") >= 2  # the reason and the history line
    assert "validity" not in zh.lower()
    client.get("/lang/en")
    en = client.get("/data/requests").text
    assert "The validity period ended" in en and "validity_ended" not in en


def test_rows_stored_in_english_before_read_translated_too(client: Any, world: Any) -> None:
    req = _expired_request(world)
    world.session.execute(update(ShareRequest).where(ShareRequest.id == req.id)
                          .values(reason="validity period ended"))
    world.session.execute(update(RequestEvent).where(RequestEvent.request_id == req.id,
                                                     RequestEvent.note == service.NOTE_VALIDITY_ENDED)
                          .values(note="validity period ended"))
    world.session.flush()
    login(client, "t-b-member")
    zh = client.get("/data/requests").text
    assert zh.count("有效期已届满") >= 2 and "validity period ended" not in zh  # the reason and the history line
    assert service.request_note_text("数据已不再需要") == "数据已不再需要"  # a person's note stays as written
