"""The import rules of docs/architecture.md, checked by parsing every module's imports.

Every module has an explicit role (no default): a domain module by its file name (`models`, `schemas`, `policies`,
`service`, `api`, `pages`, `deps`, `cli`, `background`, `subscribers`, `reference`) or, for any other name, by its
dotted path in `ROLES` below; `kit` modules are listed in `KIT`. A module with neither fails the test, naming it.

- `kit` imports no domain, and holds no domain's types (they live in the domain's `schemas`).
- Inside a domain, lower layers never import higher ones: models < schemas < policies < service < api/pages < cli.
- `api` and `pages` modules (and the modules they delegate to) import no `models` of any domain: they go through
  the service.
- Across domains only a domain's facade `service`, its `schemas` (or a capability's), `core.actor`, `core.deps` and
  `core.permissions` may be imported, and only from a service-or-higher module: never another domain's models, api,
  pages or a capability's service (`cityhub.data.catalog.service` is reached as `cityhub.data.service`).
- `policies` of any domain may import `core.actor` (the Actor type) and `core.permissions` (the one role →
  permission table and `require`) and nothing else of another domain.
- The demo builds through services and schemas only.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cityhub"

# role → layer (lower layers never import higher ones inside a domain)
LAYER = {"models": 0, "reference": 1, "schemas": 1, "policies": 2, "service": 3, "api": 4, "pages": 4, "deps": 4,
         "cli": 5, "background": 5, "subscribers": 5}
# a domain module's role by its file name
STANDARD = {"models", "schemas", "policies", "service", "api", "pages", "deps", "cli", "background", "subscribers",
            "reference"}
# every other domain module by its dotted path: its role (the layer it lives in) and what it is for
ROLES: dict[str, tuple[str, str]] = {
    # core
    "core.actor": ("schemas", "the Actor type every policy takes"),
    "core.permissions": ("policies", "the one role → permission table and require()"),
    "core.first_run": ("service", "cityhub init: the first organisation and platform admin"),
    "core.organizations.tree": ("service", "the cached organisation tree, the bureau, the directory"),
    "core.users.passwords": ("service", "password hashing"),
    "core.users.sessions": ("service", "logins and the Actor of a user"),
    "core.audit.vocabulary": ("schemas", "the audit log's vocabularies (actions, fields, targets) as data"),
    "core.audit.sentences": ("service", "audit rows as sentences people read"),
    # cloud
    "cloud.placement": ("service", "the pure placement algorithm"),
    "cloud.plugins": ("service", "the provider adapter Protocol"),
    "cloud.plugins.dummy": ("service", "the local provider for tests and the demo"),
    "cloud.plugins.libcloud_providers": ("service", "providers through Apache Libcloud"),
    "cloud.tenancies.jobs": ("service", "provider jobs with leases and retries"),
    "cloud.tenancies.metering": ("service", "daily usage and the idle rule"),
    # connect
    "connect.archive": ("service", "the Parquet archive of old telemetry"),
    "connect.simulator": ("service", "simulated devices and their series"),
    "connect.devices.assets": ("service", "assets: visibility, writes, the tree"),
    "connect.devices.credentials": ("service", "device tokens and broker password hashes"),
    "connect.devices.refs": ("service", "DeviceRef / AssetRef for other domains"),
    "connect.ingest.facts": ("service", "device facts cached per process"),
    "connect.ingest.keys": ("service", "idempotency keys of payloads without ts (decision 0009)"),
    "connect.ingest.parse": ("service", "parsing and validation against the profile"),
    "connect.ingest.store": ("service", "storage: binary COPY, latest values, quarantine rows"),
    "connect.mqtt.client": ("service", "the read-ahead client and publishers (decision 0001)"),
    "connect.mqtt.worker": ("service", "the MQTT ingest worker"),
    "connect.mqtt.broker_files": ("service", "Mosquitto password and ACL files"),
    # data
    "data.cache": ("service", "open-portal response cache and rate limits"),
    "data.vocabulary": ("schemas", "the data domain's codes, names, labels and masking rules"),
    "data.entry_form": ("pages", "the catalog entry form's fields parsed for the pages"),
    "data.catalog.history": ("service", "catalog changes as field-by-field history"),
    "data.catalog.index": ("service", "the search index"),
    "data.catalog.public": ("service", "the open catalog's queries (portal, CKAN, DCAT, sitemap)"),
    "data.catalog.search": ("service", "catalog search"),
    "data.catalog.versions": ("service", "catalog entry versions"),
    "data.catalog.tiers": ("service", "the catalog's two tiers: an entry's district, the actor's districts"),
    "data.datastore._parse": ("service", "CSV/XLSX parsing"),
    "data.datastore.export": ("service", "exports"),
    "data.datastore.reads": ("service", "masked reads"),
    "data.datastore.stores": ("service", "mounted resources and their stores"),
    "data.sharing.deadlines": ("service", "working-day deadlines of sharing requests"),
    "data.sharing.grants": ("service", "grants and grant reads"),
    "data.portal.ckan": ("service", "the CKAN Action API's dispatcher"),
    "data.portal.ckan_api": ("api", "the CKAN Action API, dumps, DCAT and Data Package routes"),
    "data.portal.ckan_base": ("service", "CKAN errors, calls and dictization"),
    "data.portal.ckan_read": ("service", "CKAN read actions"),
    "data.portal.ckan_search": ("service", "CKAN package_search"),
    "data.portal.ckan_write": ("service", "CKAN write actions"),
    "data.portal.dcat": ("service", "DCAT-AP documents"),
    "data.portal.downloads": ("service", "public downloads"),
    "data.portal.openviews": ("service", "PostgreSQL views of open tables and the public SQL role"),
    "data.portal.sqlguard": ("service", "the public SQL checker"),
    "data.collection.connectors": ("service", "reading collection sources in batches; their URL checks"),
    "data.collection.sync": ("service", "one run of a sync job: convert, validate, upsert, record"),
    "data.collection.rows": ("service", "a sync run's row path: cells converted against the items, rejects"),
    "data.collection.columnar": ("service", "the set-based full load: conversion in the source query or in SQL"),
    "data.collection.harvest": ("service", "harvesting a remote CKAN catalogue into the unit's catalog"),
    "data.base.merge": ("service", "merging one key's feed rows into a golden record (pure)"),
    "data.base.geo": ("service", "validating GeoJSON geometry, bounding boxes and distances of the geo base database"),
    "data.base.postgis": ("service", "the geo base database's PostGIS column, index and trigger, and its lookups' SQL"),
    "data.quality.checks": ("service", "evaluating each kind of quality check; the ID number checks"),
    "data.standards.conformance": ("service", "a resource's fields against their data elements, counted in SQL"),
    "data.standards.refs": ("service", "catalog items naming a data element, checked on write"),
    "data.standards.stored": ("service", "conformance results stored per resource: counted, read, rechecked"),
    "data.standards.stale": ("service", "stored conformance results marked out of date when a standard changes"),
    "data.quality.tasks": ("service", "quality tasks (整改任务) opened, updated and closed by quality runs"),
    # ops
    "ops.common": ("service", "shared helpers of the capability packages"),
    "ops.devices": ("service", "the connect contract, in one place"),
    "ops.rules.editor": ("service", "the rule editor's pickers and sentences"),
    "ops.rules.engine": ("service", "the rule engine"),
    "ops.rules.state": ("service", "persisted per-series rule state"),
    "ops.rules.live": ("service", "live evaluation of stored batches and the tick"),
    "ops.rules.queue": ("service", "the telemetry queue (decision 0003)"),
    "ops.rules.forecast": ("service", "forecast rules' Holt model: the batch fit and the per-point step"),
    "ops.rules.refit": ("service", "forecast rules' models refitted on a schedule from stored telemetry"),
    "ops.alarms.delivery": ("service", "MQTT and signed webhook delivery"),
    # apply
    "apply.evaluation.evidence": ("service", "evidence files of a unit's evaluation indicators"),
    "apply.evaluation.pdf": ("service", "the evaluation report as a PDF file (ReportLab), from the report service"),
    "apply.files": ("service", "evidence files: accepted by their bytes, kept under var_dir"),
    "apply.progress.evidence": ("service", "evidence files of progress reports"),
    "apply.panorama.snapshot": ("service", "the 全景 screen's stored figures, marked stale by the writes"),
    "apply.scenarios.showcase": ("pages", "the public showcase of accepted scenarios (no login, portal area)"),
    # compute
    "compute.registry.search": ("service", "Chinese-aware catalogue search"),
    "compute.gateway.quota": ("service", "quotas: Redis script or in-process"),
    "compute.gateway.breaker": ("service", "the circuit breaker"),
    "compute.gateway.asgi": ("api", "the gateway as an ASGI app the api mounts"),
    "compute.builtins.base": ("service", "the built-in component Protocol"),
    "compute.builtins.coords": ("service", "built-in: coordinate conversion"),
    "compute.builtins.districts": ("service", "built-in: district lookup"),
    "compute.builtins.geocode": ("service", "built-in: reverse geocoding"),
    "compute.builtins.idcheck": ("service", "built-in: ID checks"),
    "compute.builtins.analytics": ("service", "built-ins: forecasting and anomaly scoring"),
    "compute.builtins.classify": ("service", "built-in: citizen-report classification"),
    "compute.builtins.reportset": ("service", "the classifier's labelled report set"),
    "compute.stub": ("service", "the demo's stub department system (an upstream served by make run)"),
    "compute.jobs.upstream": ("service", "batch jobs of upstream versions, called through the gateway"),
    "compute.jobs.choices": ("service", "what the job form offers: units, versions, tables, applications"),
    "compute.analytics.lake": ("service", "the Parquet lake's tables and the facts export"),
    "compute.analytics.engines": ("service", "the analytics SQL engine: DuckDB and Spark backends"),
    "compute.analytics.queries": ("service", "the built-in analytics queries"),
    "compute.analytics.analyses": ("service", "saved analyses: checked SQL over what the runner may read, runs"),
    "compute.analytics.jobs": ("service", "analysis runs as jobs: thread pool, answer and end state as files"),
    "compute.analytics.simulate": ("service", "the drainage, traffic and dispatch models (pure)"),
    "compute.analytics.scenarios": ("service", "scenario runs: inputs checked, a model run, stored and audited"),
    "compute.analytics.schedules": ("service", "cron schedules of saved analyses: due, claimed, run as their owner"),
    "compute.analytics.decisions": ("service", "accept or override a dispatch run's suggestions, audited"),
    "compute.analytics.scenario_pages": ("pages", "the scenario pages: forms per kind, a run charted, decisions"),
    # context (NGSI-LD broker)
    "context.batch": ("service", "batch entity operations"),
    "context.bulk": ("service", "the bulk path of batch create and upsert"),
    "context.entities": ("service", "entity documents"),
    "context.grants": ("service", "who may read and write which entities"),
    "context.jsonld": ("service", "JSON-LD expansion and compaction"),
    "context.problems": ("schemas", "NGSI-LD ProblemDetails errors"),
    "context.qlang": ("service", "the NGSI-LD query language"),
    "context.query": ("service", "entity queries"),
    "context.store": ("service", "entity writes"),
    "context.subscriptions": ("service", "subscriptions and matching changes to them"),
    "context.notify": ("service", "delivery of the notification outbox"),
    "context.periodic": ("service", "periodic subscriptions (timeInterval): the worker's pass"),
    "context.devicewatch": ("service", "subscriptions on connect's devices: the ingest queue, the worker's pass"),
    "context.temporal": ("service", "attribute history and the temporal API"),
    "context.timeline": ("service", "one page of temporal history: stored instances and telemetry merged in time"),
    "context.words": ("service", "attribute names and units in words for the pages"),
    "context.aggregate": ("service", "the aggregated temporal representation"),
    "context.aggrsql": ("service", "the aggregated temporal representation computed by the database"),
    "context.fast": ("api", "the plain single-entity GET as an ASGI app ahead of the middleware"),
    "context.paths": ("api", "NGSI-LD paths re-split where a slash was percent-encoded inside an id, ahead of routing"),
    "context.rows": ("service", "bulk inserts (COPY on PostgreSQL)"),
    "context.bridge": ("service", "connect's devices and assets as NGSI-LD entities"),
    "context.instances": ("service", "the temporal API's attribute instance operations (PATCH / DELETE)"),
    "context.scopeq": ("service", "entity scopes and the scopeQ language"),
    "context.params": ("api", "the NGSI-LD routes' shared parameters and Query bodies"),
    "context.temporal_api": ("api", "the NGSI-LD temporal API routes"),
    # web: the shell
    "web.workbench": ("service", "each role's landing page, from the domains' services"),
}
KIT = {"backup", "clock", "context", "db", "dbstate", "egress", "errors", "events", "i18n", "idcodes", "labels",
       "metrics", "migrate", "models_registry", "pagination", "parquet", "pgroles", "progress", "pushcache", "refs",
       "resilience", "safejson", "schemas", "security_headers", "settings", "web", "__init__"}
SHAREABLE = {"service", "schemas", "actor", "deps", "permissions"}
TOP_LEVEL = {"app", "cli", "run", "__init__"}  # composition roots may import every domain's api/pages/service

# Each exception is listed with its reason.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("kit.models_registry", "*.models"): "collects every domain's tables for Alembic and the drift test",
}


def _module_path(dotted: str) -> Path | None:
    """The file of a `cityhub.…` module or package, or None when the name is not a module (an attribute)."""
    rel = Path(*dotted.split(".")[1:]) if "." in dotted else Path()
    if (SRC / rel).with_suffix(".py").is_file():
        return (SRC / rel).with_suffix(".py")
    if (SRC / rel / "__init__.py").is_file():
        return SRC / rel / "__init__.py"
    return None


def _name_of(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" and len(rel.parts) > 1 else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    """The cityhub modules a file imports (`from package import module` resolved to the module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("cityhub.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("cityhub."):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.append(full if _module_path(full) is not None else str(node.module))
    return sorted(set(out))


def _role(me: str, path: Path) -> str | None:
    """The role of a module (None: it has none — the test names it)."""
    parts = me.split(".")
    if parts[0] == "kit":
        return "kit" if (len(parts) == 2 and parts[1] in KIT) or me == "kit" else None
    if parts[0] == "demo":
        return "demo"
    if me in ROLES:
        return ROLES[me][0]
    if path.name == "__init__.py":
        return "package"
    return parts[-1] if parts[-1] in STANDARD else None


def _violations() -> list[str]:  # noqa: C901  # one branch per import rule of docs/architecture.md, read side by side
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        me = _name_of(path)
        parts = me.split(".")
        if len(parts) == 1 and parts[0] in TOP_LEVEL | {""}:
            continue  # composition roots (and the top package)
        role = _role(me, path)
        if role is None:
            bad.append(f"{me} has no role: name it in tests/test_architecture.py (ROLES or KIT) with what it is for")
            continue
        domain = parts[0]
        for imp in _imports(path):
            ip = imp.split(".")[1:]
            target = _module_path(imp)
            if target is None or not ip:
                continue
            tname = _name_of(target)
            tparts = tname.split(".")
            tdomain = tparts[0]
            trole = _role(tname, target)
            if role == "kit":
                if tdomain != "kit" and not (me == "kit.models_registry" and trole == "models"):
                    bad.append(f"{me} (kit) imports domain module {imp}")
                continue
            if role == "package":
                if tdomain != "kit":
                    bad.append(f"{me} (a package marker) imports {imp}: put the code in a named module")
                continue
            if role in {"api", "pages"} and trole == "models":
                bad.append(f"{me} ({role}) imports models {imp}: go through the service")
                continue
            if tdomain in {"kit", domain}:
                if tdomain == domain and trole in LAYER and role in LAYER and LAYER[trole] > LAYER[role]:
                    bad.append(f"{me} ({role}) imports higher layer {imp} ({trole})")
                continue
            facade = ((len(tparts) == 2 and tparts[1] in SHAREABLE) or (len(tparts) == 3 and tparts[2] == "schemas")) \
                and target.name != "__init__.py"  # a capability's schemas (data.collection.schemas) are public too
            if domain == "demo":
                if not facade:
                    bad.append(f"{me} (demo) imports {imp}: the demo builds through services and schemas only")
                continue
            if role == "policies" and tname not in {"core.actor", "core.permissions"}:
                bad.append(f"{me} (policies) imports {imp}")
                continue
            if not facade:
                what = ".".join(tparts[1:]) or "package"
                bad.append(f"{me} imports {imp}: another domain's {what} (only its service, schemas, "
                           "core.actor, core.deps, core.permissions)")
            elif LAYER[role] < LAYER["service"] and tname not in {"core.actor", "core.permissions"}:
                bad.append(f"{me} imports {imp} below the service layer")
    return bad


def test_import_directions() -> None:
    violations = _violations()
    assert not violations, "\n".join(violations)


def test_every_listed_module_exists() -> None:
    """A role for a module that is gone is a stale line: the table stays the list of what is there."""
    gone = [m for m in ROLES if _module_path(f"cityhub.{m}") is None]
    gone += [f"kit.{m}" for m in KIT if m != "__init__" and _module_path(f"cityhub.kit.{m}") is None]
    assert not gone, gone


def test_the_checker_catches_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "cityhub"
    for d in ("alpha", "alpha/things", "beta", "kit"):
        (fake / d).mkdir(parents=True)
        (fake / d / "__init__.py").write_text("")
    (fake / "alpha" / "service.py").write_text("from cityhub.beta.models import Thing\n")
    (fake / "alpha" / "api.py").write_text("from cityhub.alpha.models import Thing\n")
    (fake / "alpha" / "models.py").write_text("")
    (fake / "alpha" / "mystery.py").write_text("")
    (fake / "alpha" / "things" / "service.py").write_text("from cityhub.alpha import api\n")
    (fake / "beta" / "models.py").write_text("")
    (fake / "beta" / "service.py").write_text("from cityhub.alpha.things import service\n")
    (fake / "kit" / "db.py").write_text("import cityhub.alpha.service\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", fake)
    found = "\n".join(_violations())
    assert "alpha.service imports cityhub.beta.models" in found
    assert "alpha.api (api) imports models" in found
    assert "alpha.mystery has no role" in found
    assert "alpha.things.service (service) imports higher layer cityhub.alpha.api" in found
    assert "beta.service imports cityhub.alpha.things.service: another domain's things.service" in found
    assert "kit.db (kit) imports domain module" in found
