"""Shared bodies and headers of the context tests."""

from __future__ import annotations

from typing import Any

from cityhub.context.jsonld import CORE_URL, LINK_REL

E = "/ngsi-ld/v1/entities"
CORE = CORE_URL
USER_CTX = "https://example.org/ctx/sensor.jsonld"
USER_DOC = {"@context": {"ns": "https://example.org/ns#", "Sensor": "ns:Sensor", "temperature": "ns:temperature"}}
LD_HEADERS = {"Content-Type": "application/ld+json"}
# The ETSI-suite-like user context of the test_etsi_* files: a compound of a terms document and the core context.
ETSI_TERMS = "https://example.org/etsi/terms.jsonld"
ETSI_CTX = "https://example.org/etsi/compound.jsonld"
ETSI_NS = "https://example.org/etsi#"
ETSI_DOCS: dict[str, Any] = {
    ETSI_TERMS: {"@context": {t: f"{ETSI_NS}{t}" for t in (
        "Site", "Vehicle", "full", "label", "level", "watchedBy", "area", "tags", "doc", "kind")}},
    ETSI_CTX: {"@context": [ETSI_TERMS, CORE_URL]},
}


def ld_link(url: str) -> str:
    """A JSON-LD context Link header."""
    return f'<{url}>; rel="{LINK_REL}"; type="application/ld+json"'


def headers(world: Any, who: str | None) -> dict[str, str]:
    """Bearer headers of a world user (none for anonymous)."""
    return dict(world.headers(who))


def problem(resp: Any) -> dict[str, Any]:
    """The ProblemDetails body of an error answer."""
    body: dict[str, Any] = resp.json()
    assert set(body) >= {"type", "title", "detail"}, body
    return body


def entity_body(entity_id: str, pm25: float = 35.5, lon: float = 106.58, lat: float = 29.56,
                type_: str = "AirQualityObserved") -> dict[str, Any]:
    """An entity with one attribute of every kind."""
    return {
        "id": entity_id, "type": type_,
        "pm25": {"type": "Property", "value": pm25, "unitCode": "GQ", "observedAt": "2026-12-01T08:00:00Z",
                 "accuracy": {"type": "Property", "value": 0.5}},
        "refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:7"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
        "name": {"type": "LanguageProperty", "languageMap": {"zh": "解放碑", "en": "Jiefangbei"}},
        "category": {"type": "VocabProperty", "vocab": "urban"},
        "raw": {"type": "JsonProperty", "json": {"a": [1, 2]}},
        "readings": {"type": "ListProperty", "valueList": [1, 2, 3]},
    }
