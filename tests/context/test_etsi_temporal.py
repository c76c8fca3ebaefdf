"""Behaviour checked against the ETSI NGSI-LD API test suite: the temporal representation's create, update and
delete (ETSI TP 007, 008, 009). Our own bodies; each test names the test purposes it guards."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from cityhub.context import temporal
from tests.context.helpers import LD_HEADERS, headers, ld_link, problem
from tests.context.test_etsi_entities import CTX, ERR

T = "/ngsi-ld/v1/temporal/entities"
VID = "urn:ngsi-ld:Vehicle:t1"


def history(level: list[tuple[int, str]], tags: list[tuple[int, str, str | None]]) -> dict[str, Any]:
    return {"id": VID, "type": "Vehicle",
            "level": [{"type": "Property", "value": v, "observedAt": at} for v, at in level],
            "tags": [{"type": "Property", "value": v, "observedAt": at, **({"datasetId": ds} if ds else {})}
                     for v, at, ds in tags],
            "@context": [CTX]}


def instances(body: dict[str, Any], name: str) -> list[tuple[Any, str, str | None]]:
    raw = body[name] if isinstance(body[name], list) else [body[name]]
    return sorted((i["value"], i["observedAt"], i.get("datasetId")) for i in raw)


def test_create_update_delete(client: Any, world: Any) -> None:
    """ETSI TP 007_01, 008_01, 009_01, 009_03: 201 then 204 with empty bodies; the instances read back (a
    datasetId instance apart); delete 204, then 404 ResourceNotFound."""
    h = headers(world, "org_member_a")
    first = history([(120, "2020-09-01T12:03:00Z"), (80, "2020-09-01T12:05:00Z")],
                    [(67, "2020-09-01T12:03:00Z", None), (40, "2020-09-01T14:07:00Z", "urn:ngsi-ld:Dataset:fuel")])
    resp = client.post(T, json=first, headers={**h, **LD_HEADERS})
    assert resp.status_code == 201 and resp.text == "", resp.text
    got = client.get(f"{T}/{VID}", headers={**h, "Link": ld_link(CTX)})
    assert got.status_code == 200, got.text
    assert instances(got.json(), "level") == [(80, "2020-09-01T12:05:00.000Z", None),
                                              (120, "2020-09-01T12:03:00.000Z", None)]
    assert instances(got.json(), "tags") == [(40, "2020-09-01T14:07:00.000Z", "urn:ngsi-ld:Dataset:fuel"),
                                             (67, "2020-09-01T12:03:00.000Z", None)]
    more = history([(100, "2020-09-01T12:07:00Z")], [(30, "2020-09-01T15:00:00Z", None)])
    resp = client.post(T, json=more, headers={**h, **LD_HEADERS})
    assert resp.status_code == 204 and resp.text == "", resp.text
    got = client.get(f"{T}/{VID}", headers={**h, "Link": ld_link(CTX), "Accept": "application/ld+json"}).json()
    assert [v for v, _at, _ds in instances(got, "level")] == [80, 100, 120]
    assert len(instances(got, "tags")) == 3
    resp = client.delete(f"{T}/{VID}", headers=h)
    assert resp.status_code == 204 and resp.text == ""
    gone = client.delete(f"{T}/{VID}", headers=h)
    assert gone.status_code == 404 and problem(gone)["type"] == ERR + "ResourceNotFound"


def test_faulty_requests(client: Any, world: Any) -> None:
    """ETSI TP 007_02, 007_03, 009_02: unreadable or empty JSON 400 InvalidRequest; no id or an id that is not a
    URI 400; delete on the collection 405, of an id that is not a URI 400 BadRequestData."""
    h = {**headers(world, "org_member_a"), **LD_HEADERS}
    for raw in (b'{"id": "urn:ngsi-ld:Vehicle:x", ', b""):
        resp = client.post(T, content=raw, headers=h)
        assert resp.status_code == 400 and problem(resp)["type"] == ERR + "InvalidRequest", raw
    for body in ({"type": "Vehicle", "@context": [CTX]}, {"id": "invalidId", "type": "Vehicle", "@context": [CTX]}):
        assert client.post(T, json=body, headers=h).status_code == 400, body
    plain = headers(world, "org_member_a")
    assert client.delete(f"{T}/", headers=plain).status_code == 405
    bad = client.delete(f"{T}/invalidId", headers=plain)
    assert bad.status_code == 400 and problem(bad)["type"] == ERR + "BadRequestData"


def test_retrieve_and_query_shapes(client: Any, world: Any) -> None:
    """ETSI TP 020_01, 020_02, 021_01: a JSON answer without @context in the body; each instance exactly type,
    value, observedAt (and instanceId); timerel after, before and between select the instances."""
    h = headers(world, "org_member_a")
    body = history([(120, "2020-08-01T12:03:00Z"), (80, "2020-08-01T12:05:00Z"), (100, "2020-08-01T12:07:00Z")],
                   [(67, "2020-08-01T12:03:00Z", None), (53, "2020-08-01T13:05:00Z", None)])
    assert client.post(T, json=body, headers={**h, **LD_HEADERS}).status_code == 201
    got = client.get(f"{T}/{VID}", headers={**h, "Link": ld_link(CTX)})
    assert got.status_code == 200 and "@context" not in got.json() and got.headers["link"]
    data = got.json()
    assert set(data) == {"id", "type", "level", "tags"} and data["type"] == "Vehicle"
    for inst in data["level"] + data["tags"]:
        assert set(inst) - {"instanceId"} == {"type", "value", "observedAt"}, inst
    for params, count in (({"timerel": "after", "timeAt": "2020-08-01T12:04:00Z"}, 3),
                          ({"timerel": "before", "timeAt": "2020-08-01T12:06:00Z"}, 3),
                          ({"timerel": "between", "timeAt": "2020-08-01T12:04:00Z",
                            "endTimeAt": "2020-08-01T12:06:00Z"}, 1)):
        resp = client.get(T, params={"type": "Vehicle", **params}, headers={**h, "Link": ld_link(CTX)})
        assert resp.status_code == 200, resp.text
        found = resp.json()
        assert [e["id"] for e in found] == [VID]
        level = found[0].get("level", [])
        tags = found[0].get("tags", [])
        n = len(level if isinstance(level, list) else [level]) + len(tags if isinstance(tags, list) else [tags])
        assert n == count, (params, found)


def _series(values: dict[str, list[tuple[Any, str]]]) -> dict[str, Any]:
    return {"id": VID, "type": "Vehicle", "@context": [CTX],
            **{name: [{"type": "Property", "value": v, "observedAt": at} for v, at in pairs]
               for name, pairs in values.items()}}


def _pairs(body: dict[str, Any]) -> dict[str, list[tuple[Any, str]]]:
    """Each attribute's (value, observedAt) pairs, oldest first."""
    out: dict[str, list[tuple[Any, str]]] = {}
    for name, raw in body.items():
        if name in ("id", "type", "@context"):
            continue
        insts = raw if isinstance(raw, list) else [raw]
        out[name] = sorted(((i["value"], i["observedAt"]) for i in insts), key=lambda p: p[1])
    return out


SERIES = {"level": [(120, "2020-08-01T12:03:00Z"), (80, "2020-08-01T12:05:00Z"), (100, "2020-08-01T12:07:00Z")],
          "tags": [(67, "2020-08-01T12:03:00Z"), (53, "2020-08-01T13:05:00Z"), (40, "2020-08-01T14:07:00Z")]}


def _ms(at: str) -> str:
    return at.replace("Z", ".000Z")


def test_retrieve_selects_attributes_and_times(client: Any, world: Any) -> None:
    """ETSI TP 020_03 (attrs, one and two), 020_04 (timerel after / before / between: attributes with no instance
    in the window left out), 020_07 (unknown entity 404), 020_08 (unknown attribute 404), 020_06 (id not a URI
    400 BadRequestData), 020_09 (timerel without timeAt, between without endTimeAt: 400 BadRequestData)."""
    h = headers(world, "org_member_a")
    assert client.post(T, json=_series(SERIES), headers={**h, **LD_HEADERS}).status_code == 201
    link = {**h, "Link": ld_link(CTX)}
    want = {k: [(v, _ms(at)) for v, at in pairs] for k, pairs in SERIES.items()}
    for attrs, names in (("tags", ["tags"]), ("tags,level", ["level", "tags"])):
        got = client.get(f"{T}/{VID}", params={"attrs": attrs}, headers=link)
        assert got.status_code == 200 and _pairs(got.json()) == {n: want[n] for n in names}, got.text
    for q, expect in (({"timerel": "after", "timeAt": "2020-08-01T13:03:00Z"}, {"tags": want["tags"][1:]}),
                      ({"timerel": "before", "timeAt": "2020-08-01T12:05:00Z"},
                       {"level": want["level"][:1], "tags": want["tags"][:1]}),
                      ({"timerel": "between", "timeAt": "2020-08-01T12:00:00Z", "endTimeAt": "2020-08-01T13:00:00Z"},
                       {"level": want["level"], "tags": want["tags"][:1]})):
        got = client.get(f"{T}/{VID}", params=q, headers=link)
        assert got.status_code == 200 and _pairs(got.json()) == expect, (q, got.text)
    for path, q, status, kind in ((f"{T}/urn:ngsi-ld:Vehicle:unknown", {}, 404, "ResourceNotFound"),
                                  (f"{T}/{VID}", {"attrs": "unknownAttribute"}, 404, "ResourceNotFound"),
                                  (f"{T}/invalidUri", {}, 400, "BadRequestData"),
                                  (f"{T}/{VID}", {"timerel": "after"}, 400, "BadRequestData"),
                                  (f"{T}/{VID}", {"timerel": "before"}, 400, "BadRequestData"),
                                  (f"{T}/{VID}", {"timerel": "between", "timeAt": "2020-08-01T12:00:00Z"}, 400,
                                   "BadRequestData")):
        resp = client.get(path, params=q, headers=link)
        assert resp.status_code == status and problem(resp)["type"] == ERR + kind, (path, q, resp.text)
        assert problem(resp)["title"]


def test_retrieve_last_n_and_temporal_values(client: Any, world: Any) -> None:
    """ETSI TP 020_05 (lastN without timerel: the newest N of each attribute, all when N exceeds them), 020_10
    (options=temporalValues: {type, values: [[value, time], …]} per attribute)."""
    h = headers(world, "org_member_a")
    many = {"level": [(85, "2020-08-01T12:25:00Z"), (105, "2020-08-01T12:27:00Z"), (120, "2020-08-01T12:29:00Z"),
                      (125, "2020-08-01T12:31:00Z"), (130, "2020-08-01T12:35:00Z")],
            "tags": [(35, "2020-08-01T20:05:00Z"), (31, "2020-08-01T20:07:00Z"), (28, "2020-08-01T21:03:00Z"),
                     (24, "2020-08-01T21:05:00Z"), (19, "2020-08-01T22:07:00Z")]}
    assert client.post(T, json=_series(many), headers={**h, **LD_HEADERS}).status_code == 201
    link = {**h, "Link": ld_link(CTX)}
    want = {k: [(v, _ms(at)) for v, at in pairs] for k, pairs in many.items()}
    for n, expect in ((4, {k: v[1:] for k, v in want.items()}), (7, want)):
        got = client.get(f"{T}/{VID}", params={"lastN": n}, headers=link)
        assert got.status_code == 200 and _pairs(got.json()) == expect, (n, got.text)
    got = client.get(f"{T}/{VID}", params={"options": "temporalValues"}, headers=link)
    assert got.status_code == 200, got.text
    body = got.json()
    for name, pairs in want.items():
        assert body[name]["type"] == "Property"
        assert sorted((v, at) for v, at in body[name]["values"]) == sorted(pairs), body[name]


BEFORE, AFTER = "2019-01-01T01:01:00Z", "2021-01-01T01:01:00Z"


def _times(body: dict[str, Any], simplified: bool) -> list[str]:
    if simplified:
        return [at for name in ("level", "tags") for _v, at in body.get(name, {}).get("values", [])]
    return [i["observedAt"] for name in ("level", "tags") for i in body.get(name, [])]


def test_retrieve_pages_with_content_range(client: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ETSI TP 020_13_01-10: more instances than the broker returns at once: 206 and `Content-Range: date-time
    <start>-<end>/<size>`; time order without lastN (from timeAt, or the oldest returned, to the newest returned;
    size `*`), newest first with lastN (from endTimeAt / timeAt of before, or the newest returned, to the oldest
    returned; size lastN), in both the normalized and the simplified form. The ETSI suite relies on the broker's
    own page size; here the cap is made small instead."""
    h = headers(world, "org_member_a")
    twenty = {"level": [(i, f"2020-01-01T12:{i:02d}:00Z") for i in range(20)],
              "tags": [(i, f"2020-01-01T12:{i:02d}:30Z") for i in range(20)]}
    assert client.post(T, json=_series(twenty), headers={**h, **LD_HEADERS}).status_code == 201
    monkeypatch.setattr(temporal, "MAX_INSTANCES", 15)
    link = {**h, "Link": ld_link(CTX)}
    lrt, mrt = "least", "most"
    cases: list[tuple[dict[str, Any], str, str, str]] = [
        ({}, lrt, mrt, "*"),
        ({"lastN": 20}, mrt, lrt, "20"),
        ({"lastN": 20, "timerel": "before", "timeAt": AFTER}, AFTER, lrt, "20"),
        ({"lastN": 20, "timerel": "between", "timeAt": BEFORE, "endTimeAt": AFTER}, AFTER, lrt, ""),
        ({"lastN": 20, "timerel": "after", "timeAt": BEFORE}, mrt, lrt, "20"),
        ({"timerel": "before", "timeAt": AFTER}, "", mrt, "*"),
        ({"timerel": "between", "timeAt": BEFORE, "endTimeAt": AFTER}, BEFORE, mrt, ""),
        ({"timerel": "after", "timeAt": BEFORE}, BEFORE, mrt, ""),
        ({"options": "temporalValues", "timerel": "after", "timeAt": BEFORE}, BEFORE, mrt, ""),
        ({"options": "temporalValues", "lastN": 20, "timerel": "between", "timeAt": BEFORE, "endTimeAt": AFTER},
         AFTER, lrt, ""),
    ]
    for q, start, end, size in cases:
        resp = client.get(f"{T}/{VID}", params=q, headers=link)
        assert resp.status_code == 206, (q, resp.text)
        m = re.fullmatch(r"date-time (\S+Z)-(\S+Z)/(\S+)", resp.headers["content-range"])
        assert m, resp.headers["content-range"]
        times = sorted(_instant(t) for t in _times(resp.json(), "options" in q))
        bounds = {lrt: times[0], mrt: times[-1]}
        for want, got in ((start, m.group(1)), (end, m.group(2))):
            if want:
                assert _instant(got) == bounds.get(want) or _instant(got) == _instant(want), (q, m.groups())
        if size:
            assert m.group(3) == size, (q, m.groups())


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text[:1].isdigit() else datetime.min


def _triples(body: dict[str, Any], method: str) -> dict[str, list[tuple[float, str, str]]]:
    return {name: [(float(v), _instant(a).isoformat(), _instant(b).isoformat()) for v, a, b in attr[method]]
            for name, attr in body.items() if isinstance(attr, dict) and method in attr}


def _h(day: int, hour: int) -> str:
    return datetime(2020, 8, day, hour, 3, tzinfo=UTC).isoformat()


def test_retrieve_aggregated(client: Any, world: Any) -> None:
    """ETSI TP 020_11_01-04: options=aggregatedValues with aggrMethods avg / avg,max / min,max over PT1H and P1D,
    with and without attrs: periods start at the oldest instance, [value, start, end] per period."""
    h = headers(world, "org_member_a")
    assert client.post(T, json=_series(SERIES), headers={**h, **LD_HEADERS}).status_code == 201
    link = {**h, "Link": ld_link(CTX)}

    def get(**q: Any) -> dict[str, Any]:
        resp = client.get(f"{T}/{VID}", params={"options": "aggregatedValues", **q}, headers=link)
        assert resp.status_code == 200, (q, resp.text)
        assert resp.json()["id"] == VID
        return dict(resp.json())

    hours = {"level": [(100.0, _h(1, 12), _h(1, 13))],
             "tags": [(67.0, _h(1, 12), _h(1, 13)), (53.0, _h(1, 13), _h(1, 14)), (40.0, _h(1, 14), _h(1, 15))]}
    assert _triples(get(aggrMethods="avg", aggrPeriodDuration="PT1H"), "avg") == hours
    assert _triples(get(aggrMethods="avg", aggrPeriodDuration="PT1H", attrs="tags"), "avg") == {"tags": hours["tags"]}
    both = get(aggrMethods="avg,max", aggrPeriodDuration="PT1H")
    assert _triples(both, "avg") == hours
    assert _triples(both, "max") == {"level": [(120.0, _h(1, 12), _h(1, 13))], "tags": hours["tags"]}
    day = get(aggrMethods="min,max", aggrPeriodDuration="P1D")
    assert _triples(day, "min") == {"level": [(80.0, _h(1, 12), _h(2, 12))], "tags": [(40.0, _h(1, 12), _h(2, 12))]}
    assert _triples(day, "max") == {"level": [(120.0, _h(1, 12), _h(2, 12))], "tags": [(67.0, _h(1, 12), _h(2, 12))]}
