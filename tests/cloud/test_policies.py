"""One policy per cloud action, named like it (issue 15).

Every `audit_record(…, "<action>", …)` / `audited(…, "<action>", …)` under src/cityhub/cloud names its action with a
literal, `cloud/policies.py` has a function of that name, and the function writing the row calls it.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from cityhub.cloud import policies
from cityhub.core.actor import Actor
from cityhub.kit.errors import Forbidden

CLOUD = Path(__file__).resolve().parents[2] / "src" / "cityhub" / "cloud"
AUDIT_CALLS = {"audit_record", "audited"}


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _policy_calls(fn: ast.AST) -> set[str]:
    return {n.func.attr for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and isinstance(n.func.value, ast.Name) and n.func.value.id == "policies"}


def audited_actions(source: str, where: str) -> tuple[list[tuple[str, str, set[str]]], list[str]]:
    """(action, function, policies it calls) for each audit call in `source`; and the problems found."""
    found: list[tuple[str, str, set[str]]] = []
    problems: list[str] = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef):
            continue
        for call in ast.walk(fn):
            if not isinstance(call, ast.Call) or _called_name(call) not in AUDIT_CALLS:
                continue
            action = call.args[2] if len(call.args) > 2 else next(
                (k.value for k in call.keywords if k.arg == "action"), None)
            if not (isinstance(action, ast.Constant) and isinstance(action.value, str)):
                problems.append(f"{where}:{call.lineno} {fn.name}: the action is not a string literal")
                continue
            found.append((action.value, fn.name, _policy_calls(fn)))
    return found, problems


def check(found: list[tuple[str, str, set[str]]], policy_names: set[str], where: str) -> list[str]:
    """An action without its policy, or a function that writes the row without calling it."""
    bad = []
    for action, fn, called in found:
        if action not in policy_names:
            bad.append(f"{where} {fn}: no policies.{action}()")
        elif action not in called:
            bad.append(f"{where} {fn}: audits {action!r} without calling policies.{action}()")
    return bad


def _policy_names() -> set[str]:
    return {name for name, f in inspect.getmembers(policies, inspect.isfunction)
            if f.__module__ == policies.__name__ and not name.startswith("_")}


def test_every_audited_cloud_action_has_its_policy_and_calls_it() -> None:
    names = _policy_names()
    actions: set[str] = set()
    bad: list[str] = []
    for path in sorted(CLOUD.rglob("*.py")):
        rel = str(path.relative_to(CLOUD.parent))
        found, problems = audited_actions(path.read_text(encoding="utf-8"), rel)
        bad += problems + check(found, names, rel)
        actions |= {a for a, _fn, _called in found}
    assert not bad, "\n".join(bad)
    # the walk found the cloud's actions (a checker that sees nothing passes nothing)
    assert {"provider_account_create", "request_approve", "request_resize", "request_reclaim", "request_retry",
            "request_provisioned", "idle_case_escalate", "system_transition", "drill_record"} <= actions
    assert len(actions) >= 28


def test_every_policy_is_used() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in CLOUD.rglob("*.py") if p.name != "policies.py")
    unused = sorted(n for n in _policy_names() if f"policies.{n}(" not in text)
    assert not unused, f"policies nobody calls: {unused}"


def test_the_checker_catches_a_missing_or_uncalled_policy_and_a_computed_action() -> None:
    src = '''
def thing_update(session, actor):
    policies.thing_create(actor)
    core.audit_record(session, actor, "thing_update")

def thing_create(session, actor):
    with core.audited(session, actor, "thing_create", obj, ()):
        pass

def thing_delete(session, actor, verb):
    policies.thing_delete(actor)
    core.audit_record(session, actor, f"thing_{verb}")
'''
    found, problems = audited_actions(src, "x.py")
    assert problems == ["x.py:12 thing_delete: the action is not a string literal"]
    bad = check(found, {"thing_create"}, "x.py")
    assert bad == ["x.py thing_update: no policies.thing_update()",
                   "x.py thing_create: audits 'thing_create' without calling policies.thing_create()"]


def test_a_unit_admin_changes_only_their_own_units_resources_and_workers_run_jobs() -> None:
    import uuid

    a, b = uuid.uuid4(), uuid.uuid4()
    admin_a = Actor(user_id=uuid.uuid4(), username="a", org_id=a, roles={"org_admin": frozenset({a})})
    member_a = Actor(user_id=uuid.uuid4(), username="m", org_id=a, roles={"org_member": frozenset({a})})
    for rule in (policies.request_resize, policies.request_reclaim, policies.request_retry):
        rule(admin_a, a)
        with pytest.raises(Forbidden):
            rule(admin_a, b)
        with pytest.raises(Forbidden):
            rule(member_a, a)
    policies.request_provisioned(Actor.system("worker"))
    with pytest.raises(Forbidden):
        policies.request_provisioned(admin_a)
    head = uuid.uuid4()
    policies.request_approve(Actor(user_id=head, username="h", org_id=a, roles={}), a, head, bureau_step=False)
    with pytest.raises(Forbidden):  # the head approves the department's step, not the bureau's
        policies.request_approve(Actor(user_id=head, username="h", org_id=a, roles={}), a, head, bureau_step=True)
