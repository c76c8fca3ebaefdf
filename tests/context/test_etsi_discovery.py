"""Behaviour checked against the ETSI NGSI-LD API test suite: discovery of types and attributes (ETSI TP 022 to
027). Our own bodies; each test names the test purposes it guards."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.context.helpers import E, headers, ld_link, problem
from tests.context.test_etsi_entities import CTX, ERR, NS

V1 = "/ngsi-ld/v1"


def seed(client: Any, h: dict[str, str]) -> None:
    for i, body in enumerate([
        {"type": "Site", "label": {"type": "Property", "value": "Tower"}, "level": {"type": "Property", "value": 4}},
        {"type": "Site", "label": {"type": "Property", "value": "Bridge"}},
        {"type": "Vehicle", "watchedBy": {"type": "Relationship", "object": "urn:x:1"}},
    ]):
        resp = client.post(E, json={"id": f"urn:ngsi-ld:Thing:d{i}", **body}, headers={**h, "Link": ld_link(CTX)})
        assert resp.status_code == 201, resp.text


def test_types(client: Any, world: Any) -> None:
    """ETSI TP 022_01, 023_01, 024_01, 024_02: names compacted with the request's context (IRIs without it);
    details list attribute names; one type by term or by its encoded IRI; a term the context lacks is a 404."""
    h = headers(world, "org_member_a")
    seed(client, h)
    plain = client.get(f"{V1}/types/", headers=h).json()
    assert plain["type"] == "EntityTypeList" and {f"{NS}Site", f"{NS}Vehicle"} <= set(plain["typeList"])
    with_ctx = client.get(f"{V1}/types/", headers={**h, "Link": ld_link(CTX)}).json()
    assert {"Site", "Vehicle"} <= set(with_ctx["typeList"])
    details = client.get(f"{V1}/types/?details=true", headers={**h, "Link": ld_link(CTX)}).json()
    site = next(t for t in details if t["id"] == f"{NS}Site")
    assert site["type"] == "EntityType" and site["typeName"] == "Site"
    assert sorted(site["attributeNames"]) == ["label", "level"]
    unknown = client.get(f"{V1}/types/Site", headers=h)
    assert unknown.status_code == 404 and problem(unknown)["type"] == ERR + "ResourceNotFound"
    for name in ("Site", quote(f"{NS}Site", safe="")):
        info = client.get(f"{V1}/types/{name}", headers={**h, "Link": ld_link(CTX)})
        assert info.status_code == 200, (name, info.text)
        body = info.json()
        assert body["id"] == f"{NS}Site" and body["type"] == "EntityTypeInfo" and body["typeName"] == "Site"
        assert body["entityCount"] == 2
        assert sorted((a["id"], a["type"], a["attributeName"], a["attributeTypes"])
                      for a in body["attributeDetails"]) == [
            (f"{NS}label", "Attribute", "label", ["Property"]), (f"{NS}level", "Attribute", "level", ["Property"])]


def test_attributes(client: Any, world: Any) -> None:
    """ETSI TP 025_01, 026_01, 027_01, 027_02: the attribute list, its details, one attribute by term or by its
    encoded IRI; a term the context lacks is a 404."""
    h = headers(world, "org_member_a")
    seed(client, h)
    plain = client.get(f"{V1}/attributes", headers=h).json()
    assert plain["type"] == "AttributeList" and {f"{NS}label", f"{NS}level"} <= set(plain["attributeList"])
    assert {"label", "level"} <= set(client.get(f"{V1}/attributes", headers={**h, "Link": ld_link(CTX)}).json()[
        "attributeList"])
    details = client.get(f"{V1}/attributes?details=true", headers={**h, "Link": ld_link(CTX)}).json()
    label = next(a for a in details if a["id"] == f"{NS}label")
    assert label["type"] == "Attribute" and label["attributeName"] == "label" and label["typeNames"] == ["Site"]
    unknown = client.get(f"{V1}/attributes/level", headers=h)
    assert unknown.status_code == 404 and problem(unknown)["type"] == ERR + "ResourceNotFound"
    for name in ("level", quote(f"{NS}level", safe="")):
        resp = client.get(f"{V1}/attributes/{name}", headers={**h, "Link": ld_link(CTX)})
        assert resp.status_code == 200, (name, resp.text)
        assert resp.json() == {"id": f"{NS}level", "type": "Attribute", "attributeName": "level",
                               "attributeCount": 1, "attributeTypes": ["Property"], "typeNames": ["Site"]}
