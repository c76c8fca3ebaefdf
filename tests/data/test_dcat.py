"""DCAT-AP 3 documents (valid against the DCAT-AP 3 SHACL shapes) and Data Packages (valid for frictionless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF

from tests.data.helpers import load_people, published_entry
from tests.data.portal_helpers import MASKED_COLUMNS, OPEN_COLUMNS, open_entry

SHAPES = Path(__file__).parent / "shacl" / "dcat-ap-3.0.0-shapes.ttl"
EU = "http://publications.europa.eu/resource/authority/access-right/"


def _world(world: Any) -> dict[str, Any]:
    e, res = open_entry(world, "户籍人口统计")
    c, _r = open_entry(world, "企业登记信息", open_type="conditional", rows=False, tags=["企业"])
    secret = published_entry(world, title="不动产登记明细")
    load_people(world, secret)
    world.session.flush()
    return {"open": e, "res": res, "cond": c, "secret": secret}


def _conforms(data: Graph) -> None:
    from pyshacl import validate

    shapes = Graph().parse(SHAPES)
    ok, _g, report = validate(data, shacl_graph=shapes, inference="rdfs", abort_on_first=False)
    assert ok, report


@pytest.mark.parametrize(("ext", "fmt"), [("ttl", "turtle"), ("jsonld", "json-ld"), ("rdf", "xml")])
def test_catalog_is_valid_dcat_ap_3_and_open_only(client: Any, world: Any, ext: str, fmt: str) -> None:
    w = _world(world)
    r = client.get(f"/catalog.{ext}")
    assert r.status_code == 200
    g = Graph().parse(data=r.content, format=fmt)
    datasets = set(g.subjects(RDF.type, DCAT.Dataset))
    base = "http://testserver/dataset/"
    assert datasets == {URIRef(base + w["open"].name), URIRef(base + w["cond"].name)}
    assert (URIRef(base + w["open"].name), DCTERMS.accessRights, URIRef(EU + "PUBLIC")) in g
    assert (URIRef(base + w["cond"].name), DCTERMS.accessRights, URIRef(EU + "RESTRICTED")) in g
    assert not list(g.triples((None, DCTERMS.accessRights, URIRef(EU + "NON_PUBLIC"))))
    assert w["secret"].name not in r.text and w["secret"].code not in r.text
    # the open table has a download URL; the conditional dataset none
    dists = list(g.objects(URIRef(base + w["open"].name), DCAT.distribution))
    assert dists and list(g.objects(dists[0], DCAT.downloadURL))
    _conforms(g)


def test_dataset_documents_and_paging(client: Any, world: Any, monkeypatch: Any) -> None:
    from cityhub.data.portal import dcat

    w = _world(world)
    for ext, fmt in (("ttl", "turtle"), ("jsonld", "json-ld"), ("rdf", "xml")):
        r = client.get(f"/dataset/{w['open'].name}.{ext}")
        assert r.status_code == 200, r.text
        _conforms(Graph().parse(data=r.content, format=fmt))
    assert client.get(f"/dataset/{w['secret'].name}.ttl").status_code == 404
    assert client.get(f"/dataset/{w['secret'].name}.ttl", headers=world.headers("org_member_a")).status_code == 404
    monkeypatch.setattr(dcat, "PAGE_SIZE", 1)
    first = Graph().parse(data=client.get("/catalog.ttl").content, format="turtle")
    second = Graph().parse(data=client.get("/catalog.ttl", params={"page": 2}).content, format="turtle")
    d1 = set(first.subjects(RDF.type, DCAT.Dataset))
    d2 = set(second.subjects(RDF.type, DCAT.Dataset))
    assert len(d1) == len(d2) == 1 and d1 != d2
    assert "page=2" in client.get("/catalog.ttl").text  # hydra:nextPage
    sitemap = client.get("/sitemap.xml").text
    assert w["open"].name in sitemap and w["cond"].name in sitemap and w["secret"].name not in sitemap


def test_an_invalid_graph_fails_the_shapes(world: Any) -> None:
    # the check can fail: a dataset without a title or description violates DCAT-AP 3
    g = Graph()
    g.add((URIRef("http://x/ds"), RDF.type, DCAT.Dataset))
    from pyshacl import validate

    ok, _g, _r = validate(g, shacl_graph=Graph().parse(SHAPES), inference="rdfs")
    assert ok is False


def test_datapackage_validates_with_frictionless(live_server: str, world: Any) -> None:
    import httpx
    from frictionless import Package, validate

    w = _world(world)
    descriptor = httpx.get(f"{live_server}/dataset/{w['open'].name}/datapackage.json").json()
    assert descriptor["name"] == w["open"].name and descriptor["licenses"][0]["name"] == "CC-BY-4.0"
    fields = [f["name"] for f in descriptor["resources"][0]["schema"]["fields"]]
    assert fields == ["_id", *OPEN_COLUMNS] and not set(fields) & set(MASKED_COLUMNS)
    report = validate(descriptor)
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    package = Package(descriptor)
    rows = package.resources[0].read_rows()  # type: ignore[attr-defined]  # typed as the base Resource; this one is a table
    assert len(rows) == 3 and {r["gender"] for r in rows} == {"男", "女"}
    assert httpx.get(f"{live_server}/dataset/{w['secret'].name}/datapackage.json").status_code == 404
