"""Ops routes: the operations center (operators) sees and dispatches everything, auditors read.

A department acts on its own rules, alarms and incidents; anyone may file a citizen report.
"""

from __future__ import annotations

import uuid
from typing import Any

from cityhub.ops import service as ops
from cityhub.ops.schemas import IncidentCreate, IndicatorCreate, RuleCreate, WebhookCreate
from tests.authz import ANY_USER, PUBLIC, Expect, roles

CENTER = roles("platform_admin", "operator")
SEE_A = roles("platform_admin", "operator", "auditor", "org_admin_a", "org_member_a")
SEE_ALARM_A = SEE_A | roles("district_admin")  # the alarm lies in the district
WORK_A = roles("platform_admin", "operator", "org_admin_a", "org_member_a")
ADMINS_A = roles("platform_admin", "org_admin_a")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000004000000040802000000269309290000001449444154789c"
                    "633c2127c700034c0c48003707003476010caf6ab9b50000000049454e44ae426082")


def prepare(w: Any) -> None:
    """A rule, an alarm, an incident dispatched to dept A, an indicator, a webhook, an attachment."""
    s = w.session
    op = w.actors["operator"]
    from cityhub.kit.settings import get_settings

    settings = get_settings()
    hosts, settings.ops_webhook_allowed_hosts = settings.ops_webhook_allowed_hosts, "127.0.0.1"
    rule = ops.rule_create(s, op, RuleCreate(name="authz 应变", kind="threshold", profile_code="bridge-health",
                                             key="strain", org_id=w.orgs["dept_a"].id,
                                             condition={"op": ">", "value": 100}))
    device = uuid.uuid4()
    alarm, _ = ops.alarm_raise(s, ops.ENGINE_ACTOR, originator_type="device", originator_id=device,
                               alarm_type="authz", severity="major", details={}, org_id=w.orgs["dept_a"].id,
                               district_id=w.orgs["district"].id, name="应变计")
    incident = ops.incident_create(s, op, IncidentCreate(title="桥梁应变超限", org_id=w.orgs["dept_a"].id))
    ind = ops.indicator_create(s, op, IndicatorCreate(code="authz-pm25", name="PM2.5", theme="environment",
                                                      org_id=w.orgs["dept_a"].id))
    try:
        hook = ops.webhook_create(s, ops.Actor.system("t"), WebhookCreate(
            org_id=w.orgs["dept_a"].id, url="http://127.0.0.1:9/hook", secret="s" * 20))
    finally:
        settings.ops_webhook_allowed_hosts = hosts
    att = ops.incident_attach(s, op, incident.id, "p.png", PNG)
    route = ops.routing_rule_list(s, op)
    w.extra.update(ops_rule=rule.id, ops_alarm=alarm.id, ops_incident=incident.id, ops_indicator=ind.id,
                   ops_webhook=hook.id, ops_attachment=att.id, ops_route=route[0].id if route else None,
                   ops_device=device)
    if not route:
        from cityhub.ops.schemas import RoutingRuleCreate

        w.extra["ops_route"] = ops.routing_rule_create(s, op, RoutingRuleCreate(
            category="bridge", target_org_id=w.orgs["dept_a"].id)).id


def _rule_body(w: Any) -> dict[str, Any]:
    return {"name": f"r{uuid.uuid4().hex[:6]}", "kind": "threshold", "profile_code": "bridge-health", "key": "strain",
            "org_id": str(w.orgs["dept_a"].id), "condition": {"op": ">", "value": 5}}


def prepare_refs(w: Any) -> None:
    """Unit B's twins for the id swaps (tests/test_cross_unit_refs.py): an alarm of dept B."""
    alarm, _ = ops.alarm_raise(w.session, ops.ENGINE_ACTOR, originator_type="device", originator_id=uuid.uuid4(),
                               alarm_type="authz-b", severity="major", details={}, org_id=w.orgs["dept_b"].id,
                               name="乙局设备")
    w.extra["ops_alarm_b"] = alarm.id


def _org_b(w: Any) -> Any:
    return w.orgs["dept_b"].id


# a location: any district may be named, but a department (unit B) named as one is refused
DISTRICT = _org_b
# the asset of dept B (a plaza, from tests/authz/connect.py) and dept B as the owner
_RULE_REFS = {"org_id": _org_b, "asset_id": lambda w: w.extra["connect"]["plaza"].id,
              "device_id": lambda w: w.extra["connect"]["dev_b"].id}
_RULE: dict[str, Any] = {"params": lambda w: {"rule_id": w.extra["ops_rule"]}}
_ALARM: dict[str, Any] = {"params": lambda w: {"alarm_id": w.extra["ops_alarm"]}}
_INC: dict[str, Any] = {"params": lambda w: {"incident_id": w.extra["ops_incident"]}}
_IND: dict[str, Any] = {"params": lambda w: {"indicator_id": w.extra["ops_indicator"]}}

EXPECTATIONS = [
    Expect("GET", "/api/v1/ops/rules", ANY_USER),
    Expect("POST", "/api/v1/ops/rules", WORK_A, body=_rule_body, refs=_RULE_REFS),
    Expect("POST", "/api/v1/ops/rules/preview", WORK_A, body=_rule_body, refs=_RULE_REFS),
    Expect("GET", "/api/v1/ops/rules/{rule_id}", SEE_A, **_RULE),
    Expect("PATCH", "/api/v1/ops/rules/{rule_id}", WORK_A, body=lambda w: {"severity": "critical"}, **_RULE),
    Expect("DELETE", "/api/v1/ops/rules/{rule_id}", WORK_A, **_RULE),
    Expect("GET", "/api/v1/ops/alarms", ANY_USER),
    Expect("POST", "/api/v1/ops/alarms", CENTER, note="allowed callers get 422 (the originator is unknown)",
           body=lambda w: {"originator_id": str(uuid.uuid4()), "type": "manual"},
           refs={"originator_id": lambda w: w.extra["connect"]["dev_b"].id}),
    Expect("GET", "/api/v1/ops/alarms/stats", ANY_USER),
    Expect("GET", "/api/v1/ops/alarms/{alarm_id}", SEE_ALARM_A, **_ALARM),
    Expect("POST", "/api/v1/ops/alarms/{alarm_id}/ack", WORK_A, **_ALARM),
    Expect("POST", "/api/v1/ops/alarms/{alarm_id}/clear", WORK_A, **_ALARM),
    Expect("POST", "/api/v1/ops/alarms/{alarm_id}/assign", WORK_A, body=lambda w: {"assignee_id": None},
           refs={"assignee_id": lambda w: w.users["org_member_b"].id}, **_ALARM),
    Expect("GET", "/api/v1/ops/incidents", ANY_USER),
    Expect("POST", "/api/v1/ops/incidents", CENTER, body=lambda w: {"title": "新事件", "category": "road"},
           refs={"alarm_ids": lambda w: [w.extra["ops_alarm_b"]], "org_id": _org_b, "district_id": DISTRICT}),
    Expect("GET", "/api/v1/ops/incidents/{incident_id}", SEE_A, **_INC),
    Expect("POST", "/api/v1/ops/incidents/{incident_id}/transition", WORK_A, body=lambda w: {"status": "accepted"},
           refs={"org_id": _org_b}, **_INC),
    Expect("POST", "/api/v1/ops/incidents/{incident_id}/assign", WORK_A, body=lambda w: {"team": "抢修一队"},
           refs={"org_id": _org_b}, **_INC),  # another department's team: a dispatch, the center's (403)
    Expect("POST", "/api/v1/ops/incidents/{incident_id}/comments", WORK_A, body=lambda w: {"text": "已到场"}, **_INC),
    Expect("POST", "/api/v1/ops/incidents/{incident_id}/shares", WORK_A,
           body=lambda w: {"org_id": str(w.orgs["dept_b"].id)},
           refs={"org_id": "sharing names another department: that is what a share is for"}, **_INC),
    Expect("POST", "/api/v1/ops/incidents/{incident_id}/attachments", WORK_A,
           note="body is sent as JSON here: allowed callers get 422 (not an image)", body=lambda w: {"x": 1},
           **_INC),
    Expect("GET", "/api/v1/ops/attachments/{attachment_id}", SEE_A,
           params=lambda w: {"attachment_id": w.extra["ops_attachment"]}),
    Expect("POST", "/api/v1/ops/reports", PUBLIC, body=lambda w: {
        "category": "road", "description": "路面塌陷一处，请处理", "lon": 106.55, "lat": 29.56}),
    Expect("GET", "/api/v1/ops/reports/{code}", PUBLIC, note="unknown code answers 404 to everyone",
           params=lambda w: {"code": "RNOPE"}),
    Expect("GET", "/api/v1/ops/routing", ANY_USER),
    Expect("POST", "/api/v1/ops/routing", CENTER,
           body=lambda w: {"category": "water", "target_org_id": str(w.orgs["dept_b"].id)},
           refs={"target_org_id": _org_b, "district_id": DISTRICT}),
    Expect("DELETE", "/api/v1/ops/routing/{rule_id}", CENTER, params=lambda w: {"rule_id": w.extra["ops_route"]}),
    Expect("GET", "/api/v1/ops/indicators", ANY_USER),
    Expect("POST", "/api/v1/ops/indicators", WORK_A, body=lambda w: {
        "code": f"i{uuid.uuid4().hex[:6]}", "name": "用电量", "theme": "energy", "org_id": str(w.orgs["dept_a"].id)},
        refs={"org_id": _org_b}),
    Expect("GET", "/api/v1/ops/indicators/{indicator_id}", ANY_USER, **_IND),
    Expect("PATCH", "/api/v1/ops/indicators/{indicator_id}", WORK_A, body=lambda w: {"warning": 75}, **_IND),
    Expect("GET", "/api/v1/ops/indicators/{indicator_id}/values", ANY_USER, **_IND),
    Expect("POST", "/api/v1/ops/indicators/{indicator_id}/values", WORK_A, body=lambda w: {"value": 42.0}, **_IND),
    Expect("GET", "/api/v1/ops/webhooks", ANY_USER),
    Expect("POST", "/api/v1/ops/webhooks", ADMINS_A, note="without configured hosts allowed callers get 422",
           body=lambda w: {
        "org_id": str(w.orgs["dept_a"].id), "url": "http://127.0.0.1:9/other", "secret": "x" * 20},
        refs={"org_id": _org_b}),
    Expect("DELETE", "/api/v1/ops/webhooks/{webhook_id}", ADMINS_A,
           params=lambda w: {"webhook_id": w.extra["ops_webhook"]}),
    Expect("GET", "/api/v1/ops/outbox", ANY_USER),
    Expect("GET", "/api/v1/ops/dashboard", ANY_USER),
]
