"""The @context machinery: the bundled core context, the cached term path against pyld's full algorithms, remote
contexts fetched once and their failures, Link headers."""

from __future__ import annotations

from typing import Any

import pytest
from pyld import jsonld as pyld

from cityhub.context import jsonld
from cityhub.context.problems import NgsiError
from tests.context import conftest
from tests.context.helpers import USER_CTX, USER_DOC, E, headers, ld_link

TERMS = ["temperature", "Sensor", "location", "observedAt", "name", "ns:other", "https://a.example/x#y",
         "Property", "value", "description", "title", "Building", "status"]


def _options() -> dict[str, Any]:
    return {"documentLoader": jsonld._loader}


@pytest.mark.parametrize("user", [None, USER_CTX, [USER_CTX], {"temperature": "https://example.org/t"},
                                  [{"ex": "https://ex.org/"}, USER_CTX]])
def test_cached_terms_agree_with_pyld(user: Any) -> None:
    ctx = jsonld.context_for(user)
    full_ctx = ctx.body_value if user is None else [*(user if isinstance(user, list) else [user]), jsonld.CORE_URL]
    for term in TERMS:
        expanded = pyld.expand({"@context": full_ctx, term: "v"}, _options())
        assert list(expanded[0]) == [ctx.expand(term)], term
        iri = ctx.expand(term)
        compacted = pyld.compact({iri: "v"}, {"@context": full_ctx}, _options())
        assert [k for k in compacted if k != "@context"] == [ctx.compact(iri)], term
    type_doc = pyld.expand({"@context": full_ctx, "@type": "Sensor", "x": 1}, _options())
    assert type_doc[0]["@type"] == [ctx.expand("Sensor")]


def test_core_context_is_bundled_and_protected() -> None:
    doc = jsonld.core_document()["@context"]
    assert doc["@protected"] is True and doc["@vocab"] == "https://uri.etsi.org/ngsi-ld/default-context/"
    ctx = jsonld.core()
    assert ctx.expand("location") == "https://uri.etsi.org/ngsi-ld/location"
    assert ctx.expand("anything") == "https://uri.etsi.org/ngsi-ld/default-context/anything"
    for url in ("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
                "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld", jsonld.CORE_URL):
        assert jsonld.is_core_url(url) and jsonld.remote_document(url) is jsonld.core_document()


def test_remote_contexts_are_fetched_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(url: str) -> bytes:
        calls.append(url)
        return conftest._fetch(url)

    monkeypatch.setattr(jsonld, "fetch", counting)
    jsonld.clear_caches()
    assert jsonld.remote_document(USER_CTX) == USER_DOC
    jsonld.context_for([{"a": "https://a.example/"}, USER_CTX])
    jsonld.context_for(USER_CTX)
    assert calls == [USER_CTX]


def test_unreachable_or_invalid_contexts(client: Any, world: Any) -> None:
    with pytest.raises(NgsiError) as exc:
        jsonld.context_for("https://nowhere.example/ctx.jsonld")
    assert exc.value.kind == "LdContextNotAvailable" and exc.value.status_code == 503
    h = headers(world, "org_member_a")
    body = {"id": "urn:x:ctx", "type": "T"}
    resp = client.post(E, json=body, headers={**h, "Link": ld_link("https://nowhere.example/ctx.jsonld")})
    assert resp.status_code == 503 and resp.json()["type"].endswith("/LdContextNotAvailable")
    # the core context comes last and is protected: a user's redefinition of a core term does not stick
    resp = client.post(E, json={**body, "@context": [{"location": "https://mine.example/loc"}], "location": {
        "type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}},
        headers={**h, "Content-Type": "application/ld+json"})
    assert resp.status_code == 201
    assert client.get(f"{E}/urn:x:ctx", headers=h).json()["location"]["value"]["coordinates"] == [1, 2]
    # an inline context that is not valid JSON-LD is a 400
    resp = client.post(E, json={**body, "id": "urn:x:ctx2", "@context": {"@version": 9}},
                       headers={**h, "Content-Type": "application/ld+json"})
    assert resp.status_code == 400 and resp.json()["type"].endswith("/BadRequestData")
    assert client.post(E, json=body, headers={**h, "Link": "<not-a-url>; rel=\"http://www.w3.org/ns/json-ld#"
                                                             "context\""}).status_code == 400


def test_link_header_parsing() -> None:
    assert jsonld.link_context(None) is None
    assert jsonld.link_context('<https://a.example/c>; rel="alternate"') is None
    assert jsonld.link_context(ld_link(USER_CTX)) == USER_CTX
    assert jsonld.link_context(f'<https://x.example/o>; rel="next", {ld_link(USER_CTX)}') == USER_CTX
    with pytest.raises(NgsiError):
        jsonld.link_context(f"{ld_link(USER_CTX)}, {ld_link(USER_CTX)}")
