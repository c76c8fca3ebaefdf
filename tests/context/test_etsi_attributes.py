"""Behaviour checked against the ETSI NGSI-LD API test suite: append, update, partial update and delete of
attributes (ETSI TP 010_*, 011_*, 012_*, 013_*). Our own bodies; each test names the test purposes it guards."""

from __future__ import annotations

from typing import Any

from tests.context.helpers import LD_HEADERS, E, headers, ld_link, problem
from tests.context.test_etsi_entities import CTX, ERR, NS

VID = "urn:ngsi-ld:Vehicle:v1"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def vehicle(client: Any, h: dict[str, str], *, default_speed: bool = True) -> None:
    speeds: list[dict[str, Any]] = [{"type": "Property", "value": 54.5, "datasetId": "urn:ngsi-ld:Dataset:gps"}]
    if default_speed:
        speeds.insert(0, {"type": "Property", "value": 55})
    body = {"id": VID, "type": "Vehicle", "label": {"type": "Property", "value": "Mercedes"},
            "watchedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Person:Bob"},
            "level": speeds, "@context": [CTX]}
    resp = client.post(E, json=body, headers={**{k: v for k, v in h.items() if k != "Link"}, **LD_HEADERS})
    assert resp.status_code == 201, resp.text


def read(client: Any, h: dict[str, str]) -> dict[str, Any]:
    got: dict[str, Any] = client.get(f"{E}/{VID}", headers={**h, "Link": ld_link(CTX)}).json()
    return got


def frag(**attrs: Any) -> dict[str, Any]:
    return {**attrs, "@context": [CTX]}


def test_append(client: Any, world: Any) -> None:
    """ETSI TP 010_01, 010_04, 010_06, 010_08: 204 and empty; noOverwrite answers 207 naming what was kept."""
    h = headers(world, "org_member_a")
    vehicle(client, h)
    resp = client.post(f"{E}/{VID}/attrs/", json=frag(tags={"type": "Property", "value": 1}),
                       headers={**h, **LD_HEADERS})
    assert resp.status_code == 204 and resp.text == "", resp.text
    resp = client.post(f"{E}/{VID}/attrs/", json=frag(level={"type": "Property", "value": 3,
                                                             "datasetId": "urn:ngsi-ld:Dataset:new"}),
                       headers={**h, **LD_HEADERS})
    assert resp.status_code == 204
    assert len(read(client, h)["level"]) == 3
    kept = client.post(f"{E}/{VID}/attrs/?options=noOverwrite",
                       json=frag(level={"type": "Property", "value": 9}, fresh={"type": "Property", "value": 1}),
                       headers={**h, **LD_HEADERS})
    assert kept.status_code == 207, kept.text
    assert kept.json()["updated"] == [f"{DEFAULT}fresh"]
    assert [(n["attributeName"], bool(n["reason"])) for n in kept.json()["notUpdated"]] == [(f"{NS}level", True)]
    resp = client.post(f"{E}/{VID}/attrs/", json=frag(label={"type": "LanguageProperty",
                                                             "languageMap": {"fr": "Voiture"}},
                                                      observationSpace={"type": "GeoProperty", "value": {
                                                          "type": "Point", "coordinates": [1, 2]}}),
                       headers={**h, **LD_HEADERS})
    assert resp.status_code == 204
    got = read(client, h)
    assert got["label"] == {"type": "LanguageProperty", "languageMap": {"fr": "Voiture"}}
    assert got["observationSpace"]["type"] == "GeoProperty"


def test_attribute_operations_with_faulty_ids_or_bodies(client: Any, world: Any) -> None:
    """ETSI TP 010_02, 010_03, 010_05, 011_02, 011_03, 011_04, 012_02, 012_03, 013_02, 013_03."""
    h = headers(world, "org_member_a")
    vehicle(client, h, default_speed=False)
    body = frag(tags={"type": "Property", "value": 1})
    for method in ("POST", "PATCH"):
        for path in ("", "thisisaninvaliduri"):
            resp = client.request(method, f"{E}/{path}/attrs/", json=body, headers={**h, **LD_HEADERS})
            assert resp.status_code == 400, (method, path, resp.status_code, resp.text)
            assert problem(resp)["type"] == ERR + "BadRequestData", resp.text
        unknown = client.request(method, f"{E}/urn:ngsi-ld:Vehicle:none/attrs/", json=body,
                                 headers={**h, **LD_HEADERS})
        assert unknown.status_code == 404 and problem(unknown)["type"] == ERR + "ResourceNotFound"
        broken = client.request(method, f"{E}/{VID}/attrs/", content=b'{"tags": {"type": "Prop',
                                headers={**h, **LD_HEADERS})
        assert broken.status_code == 400 and problem(broken)["type"] == ERR + "InvalidRequest", broken.text
    # partial update (PATCH /attrs/{attr})
    one = {"value": 3, "@context": [CTX]}
    for path in ("", "thisisaninvaliduri"):
        resp = client.patch(f"{E}/{path}/attrs/level", json=one, headers={**h, **LD_HEADERS})
        assert resp.status_code == 400 and problem(resp)["type"] == ERR + "BadRequestData", (path, resp.text)
    other_type = client.patch(f"{E}/{VID}/attrs/level", json={"type": "Relationship", "object": "urn:x:1",
                                                              "datasetId": "urn:ngsi-ld:Dataset:gps",
                                                              "@context": [CTX]}, headers={**h, **LD_HEADERS})
    assert other_type.status_code == 400 and problem(other_type)["type"] == ERR + "BadRequestData", other_type.text
    empty = client.patch(f"{E}/{VID}/attrs/level", json={"@context": [CTX]}, headers={**h, **LD_HEADERS})
    assert empty.status_code == 400 and problem(empty)["type"] == ERR + "BadRequestData", empty.text
    for path, frag_ in (("urn:ngsi-ld:Vehicle:none/attrs/level", one), (f"{VID}/attrs/level", one),
                        (f"{VID}/attrs/level", {**one, "datasetId": "urn:ngsi-ld:Dataset:unknown"}),
                        (f"{VID}/attrs/tags2", one)):
        resp = client.patch(f"{E}/{path}", json=frag_, headers={**h, **LD_HEADERS})
        assert resp.status_code == 404 and problem(resp)["type"] == ERR + "ResourceNotFound", (path, resp.text)
    # delete
    hl = {**h, "Link": ld_link(CTX)}
    for path, status in (("/attrs/level", 400), ("thisIsAnInvalidURI/attrs/level", 400), (f"{VID}/attrs/", 405),
                         ("urn:ngsi-ld:Vehicle:none/attrs/level", 404), (f"{VID}/attrs/notFound", 404),
                         (f"{VID}/attrs/level?datasetId=urn:ngsi-ld:Dataset:notFound", 404)):
        resp = client.delete(f"{E}/{path}", headers=hl)
        assert resp.status_code == status, (path, resp.status_code, resp.text)


def test_update_and_partial_update(client: Any, world: Any) -> None:
    """ETSI TP 011_01_01, 011_01_02, 011_01_04, 012_01: 204; an attribute may change its type by update."""
    h = headers(world, "org_member_a")
    vehicle(client, h)
    resp = client.patch(f"{E}/{VID}/attrs/", json=frag(level={"type": "Property", "value": 60}),
                        headers={**h, **LD_HEADERS})
    assert resp.status_code == 204 and resp.text == "", resp.text
    resp = client.patch(f"{E}/{VID}/attrs/", json=frag(level={"type": "Property", "value": 61,
                                                              "datasetId": "urn:ngsi-ld:Dataset:gps"}),
                        headers={**h, **LD_HEADERS})
    assert resp.status_code == 204
    assert sorted(i["value"] for i in read(client, h)["level"]) == [60, 61]
    resp = client.patch(f"{E}/{VID}/attrs/", json=frag(label={"type": "Relationship", "object": "urn:x:brand"}),
                        headers={**h, **LD_HEADERS})
    assert resp.status_code == 204, resp.text
    assert read(client, h)["label"] == {"type": "Relationship", "object": "urn:x:brand"}
    resp = client.patch(f"{E}/{VID}/attrs/level", json={"value": 70, "datasetId": "urn:ngsi-ld:Dataset:gps",
                                                        "@context": [CTX]}, headers={**h, **LD_HEADERS})
    assert resp.status_code == 204 and resp.text == ""
    assert sorted(i["value"] for i in read(client, h)["level"]) == [60, 70]
    # the JSON-LD body's @context is not kept as a sub-attribute
    assert all(set(i) <= {"type", "value", "datasetId"} for i in read(client, h)["level"]), read(client, h)


def test_delete_attribute_instances(client: Any, world: Any) -> None:
    """ETSI TP 013_01: the default instance, one datasetId, or all of them."""
    h = {**headers(world, "org_member_a"), "Link": ld_link(CTX)}
    vehicle(client, h)
    assert client.delete(f"{E}/{VID}/attrs/level?deleteAll=false", headers=h).status_code == 204
    assert read(client, h)["level"]["datasetId"] == "urn:ngsi-ld:Dataset:gps"
    client.delete(f"{E}/{VID}", headers=h)
    vehicle(client, h)
    resp = client.delete(f"{E}/{VID}/attrs/level?datasetId=urn:ngsi-ld:Dataset:gps&deleteAll=false", headers=h)
    assert resp.status_code == 204 and resp.text == ""
    assert read(client, h)["level"] == {"type": "Property", "value": 55}
    client.delete(f"{E}/{VID}", headers=h)
    vehicle(client, h)
    assert client.delete(f"{E}/{VID}/attrs/level?deleteAll=true", headers=h).status_code == 204
    assert "level" not in read(client, h)


def test_update_scope(client: Any, world: Any) -> None:
    """ETSI TP 011_05: an update replaces the scope of an entity that has one (204) and does not add one to an
    entity without (207 naming scope)."""
    h = {**headers(world, "org_member_a"), "Link": ld_link(CTX)}
    for eid, scope in (("urn:ngsi-ld:Site:sc1", "/Nantes"), ("urn:ngsi-ld:Site:sc2", None)):
        body = {"id": eid, "type": "Site", **({"scope": scope} if scope else {})}
        assert client.post(E, json=body, headers=h).status_code == 201
    resp = client.patch(f"{E}/urn:ngsi-ld:Site:sc1/attrs", json={"scope": "/Madrid"}, headers=h)
    assert resp.status_code == 204, resp.text
    assert client.get(f"{E}/urn:ngsi-ld:Site:sc1", headers=h).json()["scope"] == "/Madrid"
    resp = client.patch(f"{E}/urn:ngsi-ld:Site:sc2/attrs", json={"scope": "/Madrid"}, headers=h)
    assert resp.status_code == 207 and [n["attributeName"] for n in resp.json()["notUpdated"]] == ["scope"]
    assert "scope" not in client.get(f"{E}/urn:ngsi-ld:Site:sc2", headers=h).json()


def test_replace_attribute(client: Any, world: Any) -> None:
    """ETSI TP 055_01 to 055_03: PUT of one attribute 204 keeping its createdAt, a new type allowed, one instance
    by datasetId; an id that is not a URI or an invalid name 400, unknown entity or attribute 404, scope 400."""
    h = {**headers(world, "org_member_a"), "Link": ld_link(CTX)}
    vehicle(client, h)
    url = f"{E}/{VID}/attrs"
    created = client.get(f"{E}/{VID}?options=sysAttrs", headers=h).json()["watchedBy"]["createdAt"]
    resp = client.put(f"{url}/watchedBy", json={"type": "Relationship", "object": "urn:ngsi-ld:Person:Alice"},
                      headers=h)
    assert resp.status_code == 204 and resp.text == "", resp.text
    got = client.get(f"{E}/{VID}?options=sysAttrs", headers=h).json()["watchedBy"]
    assert got["object"] == "urn:ngsi-ld:Person:Alice" and got["createdAt"] == created
    assert client.put(f"{url}/watchedBy", json={"type": "Property", "value": "parked"}, headers=h).status_code == 204
    assert read(client, h)["watchedBy"] == {"type": "Property", "value": "parked"}
    resp = client.put(f"{url}/level", json={"type": "Property", "value": 1, "datasetId": "urn:ngsi-ld:Dataset:gps"},
                      headers=h)
    assert resp.status_code == 204
    assert sorted(i["value"] for i in read(client, h)["level"]) == [1, 55]
    one = {"type": "Property", "value": 2}
    for path, status in ((f"{E}/invalidUri/attrs/label", 400), (f"{E}/urn:ngsi-ld:Vehicle:none/attrs/label", 404),
                         (f"{url}/@invalid", 400), (f"{url}/brandName", 404), (f"{url}/scope", 400)):
        body = "/Nantes" if path.endswith("scope") else one
        resp = client.put(path, json=body, headers=h)
        assert resp.status_code == status, (path, resp.status_code, resp.text)


def test_replace_entity(client: Any, world: Any) -> None:
    """ETSI TP 054_01, 054_03: PUT of the entity 204, createdAt kept, attributes and scopes replaced."""
    h = {**headers(world, "org_member_a"), "Link": ld_link(CTX)}
    body = {"id": "urn:ngsi-ld:Site:rp", "type": "Site", "scope": "/Nantes", "label": {"type": "Property", "value": 1},
            "full": {"type": "Property", "value": False}}
    assert client.post(E, json=body, headers=h).status_code == 201
    created = client.get(f"{E}/urn:ngsi-ld:Site:rp?options=sysAttrs", headers=h).json()["createdAt"]
    new = {"id": "urn:ngsi-ld:Site:rp", "type": "Site", "scope": ["/Madrid", "/Nantes/Centre"],
           "watchedBy": {"type": "Relationship", "object": "urn:ngsi-ld:City:Paris"}}
    resp = client.put(f"{E}/urn:ngsi-ld:Site:rp", json=new, headers=h)
    assert resp.status_code == 204 and resp.text == "", resp.text
    assert client.get(f"{E}/urn:ngsi-ld:Site:rp", headers=h).json() == new
    assert client.get(f"{E}/urn:ngsi-ld:Site:rp?options=sysAttrs", headers=h).json()["createdAt"] == created


def test_append_more_kinds(client: Any, world: Any) -> None:
    """ETSI TP 010_09, 010_10, 010_11: append an operationSpace, a JsonProperty, a VocabProperty (204)."""
    h = headers(world, "org_member_a")
    vehicle(client, h)
    frag_ = frag(operationSpace={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}},
                 doc={"type": "JsonProperty", "json": {"id": "x", "n": [1]}},
                 kind={"type": "VocabProperty", "vocab": "monument"})
    resp = client.post(f"{E}/{VID}/attrs", json=frag_, headers={**h, **LD_HEADERS})
    assert resp.status_code == 204, resp.text
    got = read(client, h)
    assert got["operationSpace"]["value"] == {"type": "Point", "coordinates": [1, 2]}
    assert got["doc"] == {"type": "JsonProperty", "json": {"id": "x", "n": [1]}}
    assert got["kind"] == {"type": "VocabProperty", "vocab": "monument"}


def test_update_types_and_null(client: Any, world: Any) -> None:
    """ETSI TP 011_06, 011_07: an update adds types the entity lacks (204); the NGSI-LD Null of an attribute
    deletes it (204)."""
    h = {**headers(world, "org_member_a"), "Link": ld_link(CTX)}
    body = {"id": "urn:ngsi-ld:Site:ut", "type": "Site", "full": {"type": "Property", "value": False},
            "watchedBy": {"type": "Relationship", "object": "urn:x:1"},
            "area": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}},
            "label": {"type": "LanguageProperty", "languageMap": {"fr": "Tour"}}}
    assert client.post(E, json=body, headers=h).status_code == 201
    url = f"{E}/urn:ngsi-ld:Site:ut"
    for types, expected in (("Vehicle", ["Site", "Vehicle"]), (["Vehicle", "Car"], ["Site", "Vehicle", "Car"]),
                            ("Site", ["Site", "Vehicle", "Car"])):
        resp = client.patch(f"{url}/attrs", json={"type": types}, headers=h)
        assert resp.status_code == 204, (types, resp.text)
        assert client.get(url, headers=h).json()["type"] == expected, types
    null = "urn:ngsi-ld:null"
    for name, value in (("full", {"type": "Property", "value": null}),
                        ("watchedBy", {"type": "Relationship", "object": null}),
                        ("area", {"type": "GeoProperty", "value": null}),
                        ("label", {"type": "LanguageProperty", "languageMap": {"@none": null}})):
        resp = client.patch(f"{url}/attrs", json={name: value}, headers=h)
        assert resp.status_code == 204, (name, resp.text)
        assert name not in client.get(url, headers=h).json(), name


def test_null_deletes_one_instance(client: Any, world: Any) -> None:
    """ETSI TP 011_08, 011_09, 012_05, 012_06: the NGSI-LD Null in an update or a partial update deletes the
    instance it names (its datasetId, else the default), the attribute with its last instance (204)."""
    h = {**headers(world, "org_member_a"), "Link": ld_link(CTX)}
    null = "urn:ngsi-ld:null"
    gps = "urn:ngsi-ld:Dataset:gps"
    kinds: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
             "full": ({"type": "Property", "value": True}, {"type": "Property", "value": null}),
             "watchedBy": ({"type": "Relationship", "object": "urn:x:1"}, {"type": "Relationship", "object": null}),
             "area": ({"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}},
                      {"type": "GeoProperty", "value": null}),
             "label": ({"type": "LanguageProperty", "languageMap": {"fr": "Tour"}},
                       {"type": "LanguageProperty", "languageMap": {"@none": null}})}
    body = {"id": "urn:ngsi-ld:Site:nl", "type": "Site",
            **{name: [inst, {**inst, "datasetId": gps}] for name, (inst, _n) in kinds.items()}}
    assert client.post(E, json=body, headers=h).status_code == 201, body
    url = f"{E}/urn:ngsi-ld:Site:nl"
    for i, (name, (_inst, nulled)) in enumerate(kinds.items()):
        # the gps instance: by update for the first two kinds, by partial update for the others
        if i < 2:
            resp = client.patch(f"{url}/attrs", json={name: {**nulled, "datasetId": gps}}, headers=h)
        else:
            resp = client.patch(f"{url}/attrs/{name}", json={**nulled, "datasetId": gps}, headers=h)
        assert resp.status_code == 204, (name, resp.text)
        left = client.get(url, headers=h).json()[name]
        assert isinstance(left, dict) and "datasetId" not in left, (name, left)
        # then the default instance, and the attribute is gone
        if i < 2:
            resp = client.patch(f"{url}/attrs", json={name: nulled}, headers=h)
        else:
            resp = client.patch(f"{url}/attrs/{name}", json=nulled, headers=h)
        assert resp.status_code == 204, (name, resp.text)
        assert name not in client.get(url, headers=h).json(), name
    again = client.patch(f"{url}/attrs/full", json=kinds["full"][1], headers=h)
    assert again.status_code == 404


def test_partial_update_kinds_and_delete_scope(client: Any, world: Any) -> None:
    """ETSI TP 012_04, 012_08, 012_09: a partial update replaces a languageMap, json or vocab and adds
    sub-attributes, keeping the others; 013_04 to 013_06: delete the scope, an observationSpace, an
    operationSpace (204)."""
    h = {**headers(world, "org_member_a"), "Link": ld_link(CTX)}
    source = {"type": "Property", "value": "Speedometer"}
    body = {"id": "urn:ngsi-ld:Site:pk", "type": "Site", "scope": "/Nantes",
            "label": {"type": "LanguageProperty", "languageMap": {"fr": "Grand Place", "nl": "Grote Markt"},
                      "tags": source},
            "doc": {"type": "JsonProperty", "json": {"id": "a"}, "tags": source},
            "kind": {"type": "VocabProperty", "vocab": "monument", "tags": source},
            "observationSpace": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}},
            "operationSpace": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}}
    assert client.post(E, json=body, headers=h).status_code == 201
    url = f"{E}/urn:ngsi-ld:Site:pk"
    by = {"type": "Relationship", "object": "urn:ngsi-ld:Person:JohnDoe"}
    for name, member, value in (("label", "languageMap", {"fr": "Grand Place", "es": "Gran Lugar"}),
                                ("doc", "json", {"id": "b", "type": "t"}), ("kind", "vocab", "sightseeing")):
        resp = client.patch(f"{url}/attrs/{name}", json={member: value, "watchedBy": by}, headers=h)
        assert resp.status_code == 204, (name, resp.text)
        got = client.get(url, headers=h).json()[name]
        assert got[member] == value and got["watchedBy"] == by and got["tags"] == source, (name, got)
    for name in ("scope", "observationSpace", "operationSpace"):
        resp = client.delete(f"{url}/attrs/{name}", headers=h)
        assert resp.status_code == 204 and resp.text == "", (name, resp.text)
        assert name not in client.get(url, headers=h).json(), name
    assert client.delete(f"{url}/attrs/scope", headers=h).status_code == 404
