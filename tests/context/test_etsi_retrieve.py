"""Behaviour checked against the ETSI NGSI-LD API test suite: retrieve an entity (ETSI TP 018_*).

Our own bodies; each test names the test purposes it guards. Linked entity retrieval (`join`, TP 018_10 to
018_14, 018_16, 018_18, 018_20, 018_21) is not built: see docs/context.md, "ETSI test suite".
"""

from __future__ import annotations

from typing import Any

from tests.context.helpers import CORE, LD_HEADERS, E, headers, ld_link, problem
from tests.context.test_etsi_entities import CTX, ERR, NS, as_sent

SID = "urn:ngsi-ld:Site:r1"
ATTRS = {"label": {"type": "Property", "value": "Tower"},
         "level": {"type": "Property", "value": 4, "observedAt": "2020-09-09T16:40:00.000Z", "unitCode": "C62"},
         "full": {"type": "Property", "value": False}}


def create(client: Any, h: dict[str, str], **attrs: Any) -> None:
    body = {"id": SID, "type": "Site", **(attrs or ATTRS), "@context": [CTX]}
    assert client.post(E, json=body, headers={**h, **LD_HEADERS}).status_code == 201


def get(client: Any, h: dict[str, str], query: str = "", accept: str = "application/ld+json",
        ctx: bool = True) -> Any:
    extra = {"Accept": accept, **({"Link": ld_link(CTX)} if ctx else {})}
    return client.get(f"{E}/{SID}{query}", headers={**h, **extra})


def test_retrieve_forms(client: Any, world: Any) -> None:
    """ETSI TP 018_01_01, 018_04, 018_06, 018_15: the core context alone expands the user's terms; keyValues by
    options or format (format wins); normalized by either."""
    h = headers(world, "org_member_a")
    create(client, h)
    plain = get(client, h, ctx=False).json()
    assert plain["@context"] == CORE and plain["type"] == f"{NS}Site" and plain[f"{NS}level"]["value"] == 4
    as_json = get(client, h, accept="application/json", ctx=False)
    assert as_json.json()[f"{NS}full"] == {"type": "Property", "value": False}
    assert get(client, h, accept="application/json").json()["full"] == {"type": "Property", "value": False}
    simplified = {"id": SID, "type": "Site", "label": "Tower", "level": 4, "full": False, "@context": [CTX]}
    normalized = {"id": SID, "type": "Site", **ATTRS, "@context": [CTX]}
    for query, expected in (("?format=keyValues", simplified), ("?format=simplified", simplified),
                            ("?format=normalized", normalized), ("?options=keyValues", simplified),
                            ("?options=simplified", simplified), ("?options=normalized", normalized),
                            ("?format=keyValues&options=normalized", simplified)):
        resp = get(client, h, query)
        assert resp.status_code == 200 and as_sent(resp.json()) == expected, (query, resp.text)


def test_retrieve_errors(client: Any, world: Any) -> None:
    """ETSI TP 018_02, 018_03, 018_19: a bad id 400, an unknown one 404; a pick or omit that leaves nothing 404."""
    h = headers(world, "org_member_a")
    bad = client.get(f"{E}/thisisaninvaliduri", headers={**h, "Accept": "application/ld+json"})
    assert bad.status_code == 400 and problem(bad)["type"] == ERR + "BadRequestData"
    gone = client.get(f"{E}/urn:ngsi-ld:Site:none", headers={**h, "Accept": "application/ld+json"})
    assert gone.status_code == 404 and problem(gone)["type"] == ERR + "ResourceNotFound"
    create(client, h)
    for query in ("?pick=unknown", "?omit=id,type,label,level,full"):
        resp = get(client, h, query, accept="application/json")
        assert resp.status_code == 404 and problem(resp)["type"] == ERR + "ResourceNotFound", (query, resp.text)


def test_pick_and_omit(client: Any, world: Any) -> None:
    """ETSI TP 018_17: pick and omit over attributes and the core members id and type."""
    h = headers(world, "org_member_a")
    create(client, h)
    cases = {"?pick=label": {"label": ATTRS["label"]}, "?pick=id": {"id": SID},
             "?pick=id,label": {"id": SID, "label": ATTRS["label"]},
             "?omit=label": {"id": SID, "type": "Site", "level": ATTRS["level"], "full": ATTRS["full"]},
             "?omit=id": {"type": "Site", **ATTRS}, "?omit=type,label": {"id": SID, "level": ATTRS["level"],
                                                                         "full": ATTRS["full"]}}
    for query, expected in cases.items():
        resp = get(client, h, query, accept="application/json")
        assert resp.status_code == 200 and resp.json() == expected, (query, resp.text)


def test_geojson(client: Any, world: Any) -> None:
    """ETSI TP 018_05, 018_08, 018_09: a Feature with the @context in its body; geometryProperty picks the
    geometry (null when the entity lacks it); properties keep the type and every attribute."""
    h = headers(world, "org_member_a")
    here = {"type": "Point", "coordinates": [13.3986, 52.5547]}
    there = {"type": "Point", "coordinates": [11.1111, 11.1111]}
    create(client, h, label=ATTRS["label"], location={"type": "GeoProperty", "value": here},
           observationSpace={"type": "GeoProperty", "value": there})
    props = {"type": "Site", "label": ATTRS["label"], "location": {"type": "GeoProperty", "value": here},
             "observationSpace": {"type": "GeoProperty", "value": there}}
    for query, geometry, properties in (
            ("", here, props), ("?options=keyValues", here,
                                {"type": "Site", "label": "Tower", "location": here, "observationSpace": there}),
            ("?geometryProperty=observationSpace", there, props), ("?geometryProperty=operationSpace", None, props)):
        resp = get(client, h, query, accept="application/geo+json")
        assert resp.status_code == 200, resp.text
        assert as_sent(resp.json()) == {"id": SID, "type": "Feature", "geometry": geometry, "properties": properties,
                                        "@context": [CTX]}, query
    kv = get(client, h, "?options=keyValues").json()
    assert kv["observationSpace"] == there and get(client, h).json()["observationSpace"]["value"] == there


def test_language_filter(client: Any, world: Any) -> None:
    """ETSI TP 018_07: lang picks a language (a list, ranked or not, or any with *): a Property with lang."""
    h = headers(world, "org_member_a")
    create(client, h, label={"type": "LanguageProperty", "languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}})
    for lang in ("fr", "fr-CH,fr", "*", "fr-CH,fr;q=0.9,en;q=0.8,*;q=0.5"):
        resp = get(client, h, f"?lang={lang}")
        assert resp.status_code == 200, resp.text
        assert resp.json()["label"] == {"type": "Property", "value": "Grand Place", "lang": "fr"}, lang
    for lang in ("fr", "*"):
        assert get(client, h, f"?lang={lang}&options=keyValues").json()["label"] == "Grand Place", lang
