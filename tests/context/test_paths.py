"""Entity ids with slashes (URL ids) are addressable in paths, percent-encoded, on every route and the fast GET."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from cityhub.context.deps import SLASH
from cityhub.context.paths import segmented
from tests.context.helpers import E, entity_body, headers, problem

URL_ID = "https://example.org/bridges/7"
ENC = quote(URL_ID, safe=":")  # https:%2F%2Fexample.org%2Fbridges%2F7


def test_a_url_id_is_created_read_changed_and_deleted_through_encoded_paths(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    created = client.post(E, json=entity_body(URL_ID), headers=h)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{E}/{ENC}"  # a Location a client can follow
    plain = client.get(f"{E}/{ENC}", headers=h)  # the fast path's plain GET
    assert plain.status_code == 200 and plain.json()["id"] == URL_ID
    kv = client.get(f"{E}/{ENC}?options=keyValues", headers=h)  # the routed GET
    assert kv.status_code == 200 and kv.json()["id"] == URL_ID and kv.json()["pm25"] == 35.5
    patched = client.patch(f"{E}/{ENC}/attrs/pm25", json={"value": 40.5}, headers=h)
    assert patched.status_code == 204, patched.text
    assert client.get(f"{E}/{ENC}?options=keyValues", headers=h).json()["pm25"] == 40.5
    history = client.get(f"/ngsi-ld/v1/temporal/entities/{ENC}?attrs=pm25", headers=h)
    assert history.status_code == 200 and history.json()["id"] == URL_ID
    assert client.delete(f"{E}/{ENC}", headers=h).status_code == 204
    gone = client.get(f"{E}/{ENC}", headers=h)
    assert gone.status_code == 404 and problem(gone)["type"].endswith("ResourceNotFound")


def test_other_organisations_still_do_not_see_a_url_id(client: Any, world: Any) -> None:
    assert client.post(E, json=entity_body(URL_ID), headers=headers(world, "org_member_a")).status_code == 201
    assert client.get(f"{E}/{ENC}", headers=headers(world, "org_member_b")).status_code == 404
    assert client.get(f"{E}/{ENC}").status_code in (401, 404)


def test_an_encoded_nul_is_no_id_and_no_error(client: Any, world: Any) -> None:
    resp = client.get(f"{E}/urn:x%00%2Fy", headers=headers(world, "org_member_a"))
    assert 400 <= resp.status_code < 500


def test_paths_are_split_again_only_where_a_slash_was_encoded() -> None:
    assert segmented(b"/ngsi-ld/v1/entities/urn:ngsi-ld:X:1") is None  # nothing to do
    assert segmented(b"/ngsi-ld/v1/entities/a%2Fb/attrs/c%20d") == f"/ngsi-ld/v1/entities/a{SLASH}b/attrs/c d"
    assert segmented(b"/ngsi-ld/v1/entities/a%2fb?x=%2F") == f"/ngsi-ld/v1/entities/a{SLASH}b"
    assert segmented(b"/ngsi-ld/v1/entities/a%00%2Fb") is None  # a NUL cannot stand for a slash
