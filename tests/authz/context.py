"""Context (NGSI-LD) routes: a unit's staff create and change its entities (in their own organisation, or the
tenant they name); those who read every unit's (auditor, operator, platform admin) read but do not write; other
units and anonymous callers see nothing of dept A's private entities (404, as for an unknown id); lists and
types are public (each caller sees what the visibility rule lets through). Grants are the owner admins'.
Subscriptions are a unit's staff's; those who read every unit's read them too."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cityhub.context import service as context
from cityhub.context.jsonld import core
from cityhub.context.models import ContextAttributeInstance
from cityhub.context.schemas import GrantCreate
from cityhub.context.timeline import INSTANCE_PREFIX
from tests.authz import ANY_USER, PUBLIC, Expect, roles

N = "/ngsi-ld/v1"
G = "/api/v1/context"
EID = "urn:ngsi-ld:AirQualityObserved:authz-a"
SID = "urn:ngsi-ld:Subscription:authz-a"
WRITERS_A = roles("platform_admin", "org_admin_a", "org_member_a")
READ_A = WRITERS_A | roles("auditor", "operator")
# anyone who writes some unit's entities: a batch is refused as a whole only for callers who write none
WRITERS = WRITERS_A | roles("org_member_b", "district_admin")
OWNER_ADMIN = roles("platform_admin", "org_admin_a")


def prepare(w: Any) -> None:
    """A private entity of dept A and a grant of dept A's (to dept B)."""
    member = w.actors["org_member_a"]
    context.entity_create(w.session, member, {
        "id": EID, "type": "AirQualityObserved", "pm25": {"type": "Property", "value": 12},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [106.5, 29.5]}}},
        core(), None)
    grant = context.grant_create(w.session, w.actors["org_admin_a"], GrantCreate(
        owner_org_id=w.orgs["dept_a"].id, grantee_org_id=w.orgs["dept_b"].id, entity_type="Parking"))
    from cityhub.kit.settings import get_settings

    settings = get_settings()
    hosts, settings.egress_allowed_hosts = settings.egress_allowed_hosts, "127.0.0.1"
    try:
        sub = context.subscription_create(w.session, member, {
            "id": SID, "type": "Subscription", "entities": [{"type": "AirQualityObserved"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}}}, core(), None)
    finally:
        settings.egress_allowed_hosts = hosts
    first = w.session.scalar(select(ContextAttributeInstance.id).where(
        ContextAttributeInstance.attr.like("%pm25")).order_by(ContextAttributeInstance.id.desc()))
    w.extra["context"] = {"grant": grant, "subscription": sub.sub_id, "instance": f"{INSTANCE_PREFIX}{first}"}


def _e(w: Any) -> dict[str, Any]:
    return {"entity_id": EID}


def _attr(w: Any) -> dict[str, Any]:
    return {"entity_id": EID, "attr": "pm25"}


def _instance(w: Any) -> dict[str, Any]:
    return {"entity_id": EID, "attr": "pm25", "instance_id": w.extra["context"]["instance"]}


def _new(w: Any) -> dict[str, Any]:
    return {"id": "urn:ngsi-ld:AirQualityObserved:authz-new", "type": "AirQualityObserved", "pm25": 1}


EXPECTATIONS = [
    Expect("POST", f"{N}/entities", WRITERS, body=_new, note="into the caller's own unit"),
    Expect("GET", f"{N}/entities", PUBLIC, query=lambda w: {"type": "AirQualityObserved"}),
    Expect("GET", f"{N}/entities/{{entity_id}}", READ_A, params=_e),
    Expect("DELETE", f"{N}/entities/{{entity_id}}", WRITERS_A, params=_e),
    Expect("PUT", f"{N}/entities/{{entity_id}}", WRITERS_A, params=_e,
           body=lambda w: {"type": "AirQualityObserved", "pm25": 3}),
    Expect("PATCH", f"{N}/entities/{{entity_id}}", WRITERS_A, params=_e, body=lambda w: {"pm25": {"value": 4}}),
    Expect("POST", f"{N}/entities/{{entity_id}}/attrs", WRITERS_A, params=_e, body=lambda w: {"no2": 5}),
    Expect("PATCH", f"{N}/entities/{{entity_id}}/attrs", WRITERS_A, params=_e, body=lambda w: {"pm25": 6}),
    Expect("PATCH", f"{N}/entities/{{entity_id}}/attrs/{{attr}}", WRITERS_A, params=_attr,
           body=lambda w: {"value": 7}),
    Expect("PUT", f"{N}/entities/{{entity_id}}/attrs/{{attr}}", WRITERS_A, params=_attr,
           body=lambda w: {"type": "Property", "value": 8}),
    Expect("DELETE", f"{N}/entities/{{entity_id}}/attrs/{{attr}}", WRITERS_A, params=_attr),
    Expect("POST", f"{N}/entityOperations/create", WRITERS, body=lambda w: [_new(w)]),
    Expect("POST", f"{N}/entityOperations/upsert", WRITERS, body=lambda w: [_new(w)]),
    Expect("POST", f"{N}/entityOperations/update", WRITERS, body=lambda w: [{"id": EID, "no2": 9}],
           note="other units get a 207 whose error for the entity is a 404"),
    Expect("POST", f"{N}/entityOperations/delete", WRITERS, body=lambda w: [EID],
           note="other units get a 207 whose error for the entity is a 404"),
    Expect("POST", f"{N}/entityOperations/merge", WRITERS, body=lambda w: [{"id": EID, "pm25": {"value": 9}}],
           note="other units get a 207 whose error for the entity is a 404"),
    Expect("POST", f"{N}/entityOperations/query", PUBLIC, body=lambda w: {
        "type": "Query", "entities": [{"type": "AirQualityObserved"}]}, note="each sees what it may read"),
    Expect("GET", f"{N}/types", PUBLIC),
    Expect("GET", f"{N}/types/{{type_name}}", PUBLIC, params=lambda w: {"type_name": "AirQualityObserved"},
           note="a 404 for those who see no entity of the type"),
    Expect("GET", f"{N}/attributes", PUBLIC),
    Expect("GET", f"{N}/attributes/{{attr}}", PUBLIC, params=lambda w: {"attr": "pm25"},
           note="a 404 for those who see no entity with the attribute"),
    Expect("GET", f"{N}/temporal/entities", PUBLIC, query=lambda w: {"type": "AirQualityObserved"}),
    Expect("GET", f"{N}/temporal/entities/{{entity_id}}", READ_A, params=_e),
    Expect("POST", f"{N}/temporal/entities", WRITERS_A, body=lambda w: {
        "id": EID, "type": "AirQualityObserved", "pm25": [{"value": 1, "observedAt": "2026-01-01T00:00:00Z"}]},
        note="instances added to dept A's entity (other units: a 404, as for an unknown id)"),
    Expect("POST", f"{N}/temporal/entities/{{entity_id}}/attrs", WRITERS_A, params=_e,
           body=lambda w: {"pm25": [{"value": 2, "observedAt": "2026-01-01T01:00:00Z"}]}),
    Expect("DELETE", f"{N}/temporal/entities/{{entity_id}}", WRITERS_A, params=_e),
    Expect("POST", f"{N}/temporal/entityOperations/query", PUBLIC, body=lambda w: {
        "type": "Query", "entities": [{"type": "AirQualityObserved"}], "temporalQ": {"lastN": 1}},
        note="each sees what it may read"),
    Expect("DELETE", f"{N}/temporal/entities/{{entity_id}}/attrs/{{attr}}", WRITERS_A, params=_attr),
    Expect("PATCH", f"{N}/temporal/entities/{{entity_id}}/attrs/{{attr}}/{{instance_id}}", WRITERS_A,
           params=_instance, body=lambda w: {"value": 13}),
    Expect("DELETE", f"{N}/temporal/entities/{{entity_id}}/attrs/{{attr}}/{{instance_id}}", WRITERS_A,
           params=_instance),
    Expect("POST", f"{N}/subscriptions", WRITERS, body=lambda w: {
        "type": "Subscription", "watchedAttributes": ["pm25"], "notification": {"endpoint": {
            "uri": "http://127.0.0.1:9/notify"}}},
        note="into the caller's own unit (a 400 here: 127.0.0.1 is not on the matrix's egress allow-list)"),
    Expect("GET", f"{N}/subscriptions", ANY_USER, note="each sees its units' subscriptions"),
    Expect("GET", f"{N}/subscriptions/{{sub_id}}", READ_A, params=lambda w: {"sub_id": SID}),
    Expect("PATCH", f"{N}/subscriptions/{{sub_id}}", WRITERS_A, params=lambda w: {"sub_id": SID},
           body=lambda w: {"isActive": False}),
    Expect("DELETE", f"{N}/subscriptions/{{sub_id}}", WRITERS_A, params=lambda w: {"sub_id": SID}),
    Expect("GET", f"{G}/grants", ANY_USER),
    Expect("POST", f"{G}/grants", OWNER_ADMIN, body=lambda w: {
        "owner_org_id": str(w.orgs["dept_a"].id), "grantee_org_id": None, "entity_type": "AirQualityObserved"},
        refs={"owner_org_id": lambda w: w.orgs["dept_b"].id,
              "grantee_org_id": "any unit may be granted reads: that is what a grant is for"}),
    Expect("DELETE", f"{G}/grants/{{grant_id}}", OWNER_ADMIN,
           params=lambda w: {"grant_id": w.extra["context"]["grant"].id}),
]
