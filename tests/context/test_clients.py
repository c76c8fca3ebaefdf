"""Plain curl, as the ETSI and FIWARE NGSI-LD tutorials use it, against a live server.

The commands are the tutorials' own shapes (create with a Link header, JSON-LD create with @context in the body,
query by type and q with keyValues, batch upsert, merge-patch, delete); only host, token and ids are ours.
`ngsildclient` (PyPI) cannot be installed next to cityhub: it pins httpx < 0.24 and rich < 13 (docs/context.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.browser import live_app
from tests.context.helpers import CORE, USER_CTX

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def _curl(*args: str) -> tuple[int, dict[str, str], str]:
    out = subprocess.run(["curl", "-s", "-i", "--max-time", "20", *args], capture_output=True, text=True,
                         check=True).stdout
    head, _sep, body = out.partition("\n\n")  # text mode: CRLF read as LF
    lines = head.split("\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _s, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def test_tutorial_curl_commands(db: Any, world: Any) -> None:
    world.session.commit()  # the live server's sessions see the world (the outer transaction is still undone)
    auth = f"Authorization: Bearer {world.tokens['org_member_a']}"
    link = f'Link: <{USER_CTX}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    with live_app(db) as base:
        entities = f"{base}/ngsi-ld/v1/entities"
        status, headers, _ = _curl("-X", "POST", f"{entities}/", "-H", "Content-Type: application/json",
                                   "-H", auth, "-H", link, "-d", json.dumps({
                                       "id": "urn:ngsi-ld:Sensor:001", "type": "Sensor",
                                       "temperature": {"type": "Property", "value": 25, "unitCode": "CEL",
                                                       "observedAt": "2026-12-01T12:00:00.000Z"},
                                       "location": {"type": "GeoProperty", "value": {
                                           "type": "Point", "coordinates": [106.55, 29.56]}}}))
        assert status == 201 and headers["location"] == "/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:001"
        status, _h, _b = _curl("-X", "POST", entities, "-H", "Content-Type: application/ld+json", "-H", auth,
                               "-d", json.dumps({"@context": [USER_CTX, CORE], "id": "urn:ngsi-ld:Sensor:002",
                                                 "type": "Sensor", "temperature": {"type": "Property",
                                                                                   "value": 18}}))
        assert status == 201
        status, headers, body = _curl("-G", entities, "-H", "Accept: application/json", "-H", auth, "-H", link,
                                      "-d", "type=Sensor", "-d", "q=temperature>20", "-d", "options=keyValues",
                                      "-d", "count=true")
        assert status == 200 and headers["ngsild-results-count"] == "1"
        assert json.loads(body) == [{"id": "urn:ngsi-ld:Sensor:001", "type": "Sensor", "temperature": 25,
                                     "location": {"type": "Point", "coordinates": [106.55, 29.56]}}]
        assert USER_CTX in headers["link"]
        status, headers, body = _curl(f"{entities}/urn:ngsi-ld:Sensor:002", "-H", "Accept: application/ld+json",
                                      "-H", auth, "-H", link)
        assert status == 200 and json.loads(body)["@context"] == USER_CTX
        status, _h, _b = _curl("-X", "POST", f"{base}/ngsi-ld/v1/entityOperations/upsert", "-H", auth, "-H", link,
                               "-H", "Content-Type: application/json", "-d", json.dumps([
                                   {"id": "urn:ngsi-ld:Sensor:001", "type": "Sensor", "temperature": 26},
                                   {"id": "urn:ngsi-ld:Sensor:003", "type": "Sensor", "temperature": 30}]))
        assert status == 201
        status, _h, _b = _curl("-X", "PATCH", f"{entities}/urn:ngsi-ld:Sensor:003", "-H", auth, "-H", link,
                               "-H", "Content-Type: application/merge-patch+json",
                               "-d", json.dumps({"temperature": {"value": 31}}))
        assert status == 204
        status, _h, body = _curl("-G", entities, "-H", auth, "-H", link, "-d", "type=Sensor",
                                 "-d", "q=temperature>=26", "-d", "options=keyValues", "-d", "pick=id,temperature")
        assert sorted((e["id"], e["temperature"]) for e in json.loads(body)) == [
            ("urn:ngsi-ld:Sensor:001", 26), ("urn:ngsi-ld:Sensor:003", 31)]
        status, _h, body = _curl("-X", "DELETE", f"{entities}/urn:ngsi-ld:Sensor:009", "-H", auth)
        assert status == 404 and json.loads(body)["type"] == "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"
        status, _h, _b = _curl("-X", "DELETE", f"{entities}/urn:ngsi-ld:Sensor:003", "-H", auth)
        assert status == 204
