"""The import rules of docs/architecture.md, checked by parsing every module's imports.

- `kit` imports no domain.
- Inside a domain, lower layers never import higher ones: models < schemas < policies < service < api/pages.
- Across domains, only `service`, `schemas`, `actor` and `deps` may be imported, and only from a service-or-higher
  module (service, api, pages, cli, demo, background): never another domain's models, api or pages.
- `policies` of any domain may import `core.actor` (the Actor type) and `core.permissions` (the one role → permission
  table and `require`) and nothing else of core.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "cityhub"
LAYER = {"models": 0, "schemas": 1, "policies": 2, "service": 3, "api": 4, "pages": 4, "deps": 4, "cli": 5,
         "background": 5}
SHAREABLE = {"service", "schemas", "actor", "deps", "permissions"}
TOP_LEVEL = {"app", "cli", "run", "__init__"}  # composition roots may import every domain's api/pages/service

# Each exception is listed with its reason.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("kit.models_registry", "*.models"): "collects every domain's tables for Alembic and the drift test",
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
            out += [f"{node.module}.{a.name}" for a in node.names]
    return [m for m in out if m.startswith("cityhub.")]


def _violations() -> list[str]:
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        parts = rel.parts
        me = ".".join(parts)
        if parts[0] in TOP_LEVEL or me in {"kit.models_registry"}:
            continue
        domain = parts[0]
        my_layer = LAYER.get(parts[1] if len(parts) > 1 else "", 3)
        for imp in _imports(path):
            ip = imp.split(".")[1:]
            if len(ip) < 2 and ip and ip[0] != "kit":
                continue  # `from cityhub.core import service` also yields the bare package; the names are checked
            target_domain, target_mod = ip[0], (ip[1] if len(ip) > 1 else "")
            if domain == "kit":
                if target_domain != "kit":
                    bad.append(f"{me} (kit) imports domain module {imp}")
                continue
            if target_domain == "kit" or target_domain == domain:
                if target_domain == domain and target_mod in LAYER and parts[1] in LAYER:
                    if LAYER[target_mod] > my_layer and parts[1] != target_mod:
                        bad.append(f"{me} imports higher layer {imp}")
                continue
            if domain == "demo":
                if target_mod not in SHAREABLE and target_domain != "demo":
                    bad.append(f"{me} (demo) imports {imp}: the demo builds through services only")
                continue
            if parts[1:2] == ("policies",) and (target_domain, target_mod) not in {("core", "actor"),
                                                                                    ("core", "permissions")}:
                bad.append(f"{me} (policies) imports {imp}")
                continue
            if target_mod not in SHAREABLE:
                bad.append(f"{me} imports {imp}: another domain's {target_mod or 'package'}")
            elif my_layer < LAYER["service"] and target_mod not in {"actor", "permissions"}:
                bad.append(f"{me} imports {imp} below the service layer")
    return bad


def test_import_directions() -> None:
    violations = _violations()
    assert not violations, "\n".join(violations)


def test_the_checker_catches_a_violation(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "cityhub"
    (fake / "alpha").mkdir(parents=True)
    (fake / "alpha" / "service.py").write_text("from cityhub.beta.models import Thing\n")
    (fake / "kit").mkdir()
    (fake / "kit" / "x.py").write_text("import cityhub.alpha.service\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", fake)
    found = _violations()
    assert any("beta.models" in v for v in found) and any("(kit)" in v for v in found)
