"""A unit cannot raise alarms or open incidents in another (issue 13, item 4).

The finding: `POST /api/v1/ops/rules` took another unit's asset with `auto_incident: true`, and a critical alarm
and a dispatched incident landed in a unit the caller cannot see. A rule's asset must be one the caller may use,
and a rule reaches only the devices of its owner's subtree — whatever profile it names.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from cityhub.connect import service as connect
from cityhub.connect.schemas import DeviceCreate
from cityhub.kit import clock
from cityhub.ops.models import Alarm, Incident, Rule
from tests.connect.helpers import SYSTEM, build_connect, message
from tests.ops.helpers import T0, all_alarms, rule

API = "/api/v1/ops"


def _critical_rule(w: Any, **over: Any) -> dict[str, Any]:
    return {"name": "越权规则", "kind": "threshold", "key": "pm25", "severity": "critical", "auto_incident": True,
            "category": "environment", "org_id": str(w.orgs["dept_a"].id), "condition": {"op": ">", "value": 100},
            **over}


def _pm25(session: Any, device_id: Any, value: float) -> None:
    clock.set_now(T0 + timedelta(hours=1))
    records = [{"ts": (T0 + timedelta(minutes=i)).isoformat(), "values": {"pm25": value}} for i in range(3)]
    assert connect.ingest_messages(session, [message(device_id, records, clock.now())]).stored == 3


def _incidents_of(session: Any, device_id: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(Incident).where(Incident.originator_id == device_id)))


def test_a_rule_on_another_units_asset_is_refused_and_nothing_lands(client: Any, world: Any, session: Any) -> None:
    cw = build_connect(world)
    plaza, dev_b = cw["plaza"], cw["dev_b"]  # dept B's asset and its air-quality station
    for who in ("org_member_a", "org_admin_a"):
        for path in ("/rules", "/rules/preview"):
            r = client.post(f"{API}{path}", headers=world.headers(who),
                            json=_critical_rule(world, asset_id=str(plaza.id)))
            assert r.status_code == 422, (who, path, r.text)
            assert r.json()["error"]["details"][0]["field"] == "asset_id"
    assert session.scalar(select(func.count()).select_from(Rule)) == 0
    _pm25(session, dev_b.id, 900)
    assert all_alarms(session, dev_b.id) == [] and _incidents_of(session, dev_b.id) == 0
    # naming dept B as the owner is refused too (403: the unit exists, A does not write its rules)
    r = client.post(f"{API}/rules", headers=world.headers("org_member_a"),
                    json=_critical_rule(world, asset_id=str(plaza.id), org_id=str(world.orgs["dept_b"].id)))
    assert r.status_code == 403, r.text


def test_a_units_profile_rule_never_fires_on_another_units_devices(client: Any, world: Any, session: Any) -> None:
    cw = build_connect(world)
    dev_b = cw["dev_b"]
    dev_a, _token = connect.device_create(session, SYSTEM, DeviceCreate(
        name="甲局微站", org_id=world.orgs["dept_a"].id, profile_code="air-noise"))
    r = client.post(f"{API}/rules", headers=world.headers("org_member_a"),
                    json=_critical_rule(world, profile_code="air-noise"))
    assert r.status_code == 201, r.text  # a profile is shared vocabulary: A watches its own devices of it
    _pm25(session, dev_b.id, 900)
    assert all_alarms(session, dev_b.id) == [] and _incidents_of(session, dev_b.id) == 0
    _pm25(session, dev_a.id, 900)
    [alarm] = all_alarms(session, dev_a.id)
    assert alarm.org_id == world.orgs["dept_a"].id and alarm.severity == "critical"
    assert _incidents_of(session, dev_a.id) == 1
    # the preview, too, only counts the owner's devices
    p = client.post(f"{API}/rules/preview", headers=world.headers("operator"),
                    json=_critical_rule(world, profile_code="air-noise"))
    assert p.status_code == 200 and p.json()["devices"] == 1, p.text


def test_the_center_reaches_every_unit_through_a_city_rule(client: Any, world: Any, session: Any) -> None:
    cw = build_connect(world)
    plaza, dev_b = cw["plaza"], cw["dev_b"]
    # a rule owned by dept A cannot name dept B's asset, even when the center writes it
    r = client.post(f"{API}/rules", headers=world.headers("operator"),
                    json=_critical_rule(world, asset_id=str(plaza.id)))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "asset_id", r.text
    r = client.post(f"{API}/rules", headers=world.headers("operator"),
                    json=_critical_rule(world, asset_id=str(plaza.id), org_id=str(world.orgs["city"].id)))
    assert r.status_code == 201, r.text
    _pm25(session, dev_b.id, 900)
    [alarm] = all_alarms(session, dev_b.id)
    assert alarm.org_id == world.orgs["dept_b"].id and _incidents_of(session, dev_b.id) == 1


def test_an_old_rule_outside_its_reach_stays_silent(world: Any, session: Any) -> None:
    """A rule stored before reach was enforced (dept A's, on dept B's asset) raises nothing in dept B."""
    cw = build_connect(world)
    row = rule(world, session, who="operator", profile_code=None, key="pm25", severity="critical",
               auto_incident=True, org_id=world.orgs["city"].id, asset_id=cw["plaza"].id,
               condition={"op": ">", "value": 100})
    row.org_id = world.orgs["dept_a"].id  # as if written through the old, unchecked path
    session.flush()
    from cityhub.ops.rules import service as rule_service

    rule_service._touch_rules(session)
    _pm25(session, cw["dev_b"].id, 900)
    assert session.scalar(select(func.count()).select_from(Alarm)) == 0
    assert _incidents_of(session, cw["dev_b"].id) == 0


def test_only_a_dispatch_names_a_department(client: Any, world: Any, session: Any) -> None:
    from cityhub.ops import service as ops
    from cityhub.ops.schemas import IncidentCreate

    inc = ops.incident_create(session, world.actors["operator"], IncidentCreate(
        title="桥梁应变超限", org_id=world.orgs["dept_a"].id))
    r = client.post(f"{API}/incidents/{inc.id}/transition", headers=world.headers("org_member_a"),
                    json={"status": "accepted", "org_id": str(world.orgs["dept_b"].id)})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "org_id", r.text
    assert ops.incident_get(session, world.actors["operator"], inc.id).org_id == world.orgs["dept_a"].id
