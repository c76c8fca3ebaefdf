"""Context broker pages (issue 19): types, a type's entities, one entity with its history, subscriptions.

Each page as a department's member: only what the broker lets that member see (another unit's private entity is
absent, and its page a 404, like an unknown id); in Chinese and in English; a portal account is refused.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub.kit.settings import get_settings
from tests.conftest import PASSWORD
from tests.context.helpers import entity_body, headers

E = "/ngsi-ld/v1/entities"
SUBS = "/ngsi-ld/v1/subscriptions"
MINE = "urn:ngsi-ld:AirQualityObserved:mine-1"
THEIRS = "urn:ngsi-ld:AirQualityObserved:theirs-1"


def _login(client: TestClient, username: str) -> None:
    page = client.get("/login").text
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": m.group(1)},
                    follow_redirects=False)
    assert r.status_code == 303, (username, r.status_code)


def _text(html: str) -> str:
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def city(client: TestClient, world: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Unit A's entity (with a second value in its history) and subscription; unit B's private entity."""
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "hooks.example.org")
    a, b = headers(world, "org_member_a"), headers(world, "org_member_b")
    assert client.post(E, json=entity_body(MINE, pm25=35.5), headers=a).status_code == 201
    r = client.patch(f"{E}/{MINE}/attrs", json={"pm25": {"type": "Property", "value": 41.0,
                                                           "observedAt": "2026-12-01T09:00:00Z"}}, headers=a)
    assert r.status_code == 204, r.text
    assert client.post(E, json=entity_body(THEIRS, pm25=12.0), headers=b).status_code == 201
    r = client.post(SUBS, json={"type": "Subscription", "subscriptionName": "空气质量推送",
                                "entities": [{"type": "AirQualityObserved"}],
                                "notification": {"endpoint": {"uri": "https://hooks.example.org/ngsi/notify?k=1"}}},
                    headers=a)
    assert r.status_code == 201, r.text
    r = client.post(SUBS, json={"type": "Subscription", "subscriptionName": "乙局的订阅",
                                "entities": [{"type": "AirQualityObserved"}],
                                "notification": {"endpoint": {"uri": "https://hooks.example.org/b"}}}, headers=b)
    assert r.status_code == 201, r.text
    _login(client, world.users["org_member_a"].username)
    return world


def test_types_page_counts_only_visible_entities(client: TestClient, city: Any) -> None:
    r = client.get("/context")
    assert r.status_code == 200
    row = re.search(r'type=AirQualityObserved" title="AirQualityObserved">空气质量监测</a></td>'
                    r'<td class="num">([^<]+)<', r.text)
    assert row and row.group(1) == "1", r.text[:2000]  # B's entity is not counted; its type in words
    assert "实体类型" in r.text


def test_entity_types_read_in_words_in_both_languages() -> None:
    from cityhub.context.words import type_label
    from cityhub.kit import i18n

    token = i18n.set_locale("zh_CN")
    try:
        assert type_label("AirQualityObserved") == "空气质量监测" and type_label("OffStreetParking") == "停车场"
    finally:
        i18n.reset_locale(token)
    token = i18n.set_locale("en")
    try:
        assert type_label("AirQualityObserved") == "Air quality observation"
    finally:
        i18n.reset_locale(token)
    # a type of no table: its term in words, acronyms kept; an IRI by its last segment
    assert type_label("SmartMeterXYZReading") == "Smart meter XYZReading"
    assert type_label("https://example.org/ns#bridgeSpan") == "Bridge span"


def test_entities_page_lists_the_type_with_unit_time_and_map(client: TestClient, city: Any) -> None:
    r = client.get("/context/entities", params={"type": "AirQualityObserved"})
    assert r.status_code == 200
    text = _text(r.text)
    assert MINE in text and THEIRS not in r.text
    assert "甲局" in text and "乙局" not in text
    assert 'data-testid="entity-map"' in r.text and "context-entities.js" in r.text
    data = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', r.text, flags=re.S)
    assert data and "106.58" in data.group(1) and THEIRS not in data.group(1)
    assert "<script>" not in r.text  # no inline script


def test_entity_page_attributes_and_history(client: TestClient, city: Any) -> None:
    r = client.get(f"/context/entities/{MINE}")
    assert r.status_code == 200
    text = _text(r.text)
    assert "PM2.5" in text and "41.0" in text and "解放碑" in text
    assert "位置" in text and 'title="pm25"' in r.text  # names in words; the term itself only as a tooltip
    assert "default-context" not in text and " urban " in text  # a vocabulary term as its term, not its IRI
    assert "(106.58000, 29.56000)" in text
    assert "2026-12-01 17:00" in text  # observedAt 09:00Z shown in Asia/Shanghai
    assert '{"a"' not in text and "{&#34;" not in text  # no raw JSON
    data = re.search(r'id="page-data">(.*?)</script>', r.text, flags=re.S)
    assert data and '"PM2.5"' in data.group(1) and "41.0" in data.group(1) and "35.5" in data.group(1)


def test_unknown_and_invisible_entities_are_404(client: TestClient, city: Any) -> None:
    assert client.get(f"/context/entities/{THEIRS}").status_code == 404
    assert client.get("/context/entities/urn:ngsi-ld:Nothing:here").status_code == 404


def test_subscriptions_page(client: TestClient, city: Any) -> None:
    r = client.get("/context/subscriptions")
    assert r.status_code == 200
    text = _text(r.text)
    assert "空气质量推送" in text and "乙局的订阅" not in text
    assert "hooks.example.org" in text and "/ngsi/notify" not in r.text and "k=1" not in r.text
    assert "尚未发送" in text


def test_pages_in_english(client: TestClient, city: Any) -> None:
    client.cookies.set("cityhub_lang", "en")
    assert "Entity type" in client.get("/context").text
    assert "Locations on the district map" in client.get("/context/entities?type=AirQualityObserved").text
    assert "Attributes" in client.get(f"/context/entities/{MINE}").text
    assert "Nothing sent yet" in client.get("/context/subscriptions").text


def test_anonymous_is_sent_to_login(client: TestClient) -> None:
    r = client.get("/context", follow_redirects=False)
    assert r.status_code in (303, 307, 401) and "login" in r.headers.get("location", "/login")


def test_a_portal_account_is_sent_back_to_the_portal(client: TestClient, city: Any) -> None:
    client.cookies.clear()
    m = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/portal/register").text)
    assert m
    r = client.post("/portal/register", data={"csrf_token": m.group(1), "username": "citizen-li",
                                              "email": "li@example.org", "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    for path in ("/context", "/context/entities?type=AirQualityObserved", f"/context/entities/{MINE}",
                 "/context/subscriptions"):
        r = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/portal?"), (path, r.status_code)
        assert MINE not in r.text


def test_a_device_page_charts_its_telemetry(client: TestClient, world: Any) -> None:
    from datetime import timedelta

    from cityhub.connect import service as connect
    from cityhub.kit import clock
    from tests.connect.helpers import build_connect, message

    dev = build_connect(world)["dev_a"]
    for i in range(3):
        at = clock.now() - timedelta(minutes=30 - i * 10)
        connect.ingest_messages(world.session, [message(dev.id, {"ts": at.isoformat(),
                                                                 "values": {"strain": 100.0 + i}}, clock.now())])
    world.session.flush()
    _login(client, world.users["org_member_a"].username)
    r = client.get(f"/context/entities/urn:ngsi-ld:Device:{dev.id}")
    assert r.status_code == 200
    assert "主跨应变计 1" in _text(r.text)
    assert '<div class="stat"><b>设备</b>' in r.text  # the type as people read it, not the model's name "Device"
    types = client.get("/context").text
    assert 'title="Device">设备</a>' in types and ('title="Bridge">桥梁</a>' in types or "Bridge" not in types)
    data = re.search(r'id="page-data">(.*?)</script>', r.text, flags=re.S)
    assert data and "\\u5e94\\u53d8" in data.group(1) and "100.0" in data.group(1) and "102.0" in data.group(1)
    text = _text(r.text)  # the metric by the profile's name (应变) with its unit, not its key
    assert "应变" in text and "με" in text and 'title="strain"' in r.text
    assert 'data-testid="attr-patch"' not in r.text  # connect's devices are changed through connect
