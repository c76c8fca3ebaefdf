"""The NGSI-LD broker on the issue's load (issue 19): batch upserts, single GETs, type + q and geo near queries.

In a scratch database (PostgreSQL when reachable), starts `cityhub serve` (one process) and, as a platform
admin with an API token:

- loads BENCH_ENTITIES entities (default 100,000; 6 Properties, 1 Relationship, 1 GeoProperty in Chongqing's
  centre) through `/entityOperations/upsert`, 1,000 per call, bodies serialised before the clock starts: the first
  fifth on one keep-alive connection → `batch_upserts_one_conn_per_s`, the rest over BENCH_UPSERT_CONNS (2)
  connections → `batch_upserts_per_s`;
- times BENCH_REQUESTS single `GET /entities/{id}` of random ids on one keep-alive connection (raw socket, so the
  client adds next to nothing) → `get_per_s` (sequential: 1 / mean latency), p50 / p95;
- GETs of one entity for BENCH_SECONDS over BENCH_CONNS keep-alive connections from `_loadgen.py` (its own
  process on the last core, niced) → `get_concurrent_per_s`;
- times BENCH_QUERIES `type=Sensor&q=temperature>=a;temperature<a+0.2` (≈ 1 % of the entities, limit 100) →
  `query_type_q_p95_ms`, and `georel=near;maxDistance==200` around random points → `geo_near_p95_ms`;
- the same single read and the same range query as raw SQL on one psycopg connection (`sql_*`: the entity row by
  its unique id; the type rows and the number index), for the ratios;
- the server's RSS at the end;
- CPU per operation, which a busy shared machine disturbs far less than wall time: the server process's CPU
  (`server_cpu_ms_per_upsert` per entity, `server_cpu_ms_per_get`) and that of the database's backends serving it
  (`db_cpu_ms_per_upsert`, `db_cpu_ms_per_get`; PostgreSQL on this machine only: /proc of its backends).

- loads BENCH_INSTANCES (default 100,000) past instances of one attribute of one entity (one every 10 s, through
  `POST /temporal/entities/{id}/attrs`, 5,000 per call) and times BENCH_AGGR_QUERIES (30) aggregations over all
  of them (`options=aggregatedValues`, six methods, `aggrPeriodDuration=PT1H`, a `between` window of the whole
  series) → `temporal_aggr_p50_ms` / `temporal_aggr_p95_ms`, and its CPU (`server_cpu_ms_per_aggr`,
  `db_cpu_ms_per_aggr`).

Ingest with the entity bridge is `benchmarks/ingest.py`: the bridge reads connect's tables through; ingest's one
addition is a queue row per stored batch for subscriptions on devices (docs/context.md).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(__file__))
from _common import free_port, pct, record, rss_mb, scratch_database, serve
from _loadgen import Sequential, request_bytes

ENTITIES = int(os.environ.get("BENCH_ENTITIES", "100000"))
N = int(os.environ.get("BENCH_REQUESTS", "2000"))
QUERIES = int(os.environ.get("BENCH_QUERIES", "200"))
CONNS = int(os.environ.get("BENCH_CONNS", "8"))
UPSERT_CONNS = int(os.environ.get("BENCH_UPSERT_CONNS", "2"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
INSTANCES = int(os.environ.get("BENCH_INSTANCES", "100000"))
AGGR_QUERIES = int(os.environ.get("BENCH_AGGR_QUERIES", "30"))
BATCH = 1000
LON, LAT = 106.55, 29.56  # 解放碑


def _build(url: str) -> str:
    from cityhub.core import service as core
    from cityhub.core.actor import Actor
    from cityhub.core.schemas import ApiTokenCreate, OrganizationCreate, RoleBindingCreate, UserCreate
    from cityhub.kit.db import Database
    from cityhub.kit.migrate import upgrade

    system = Actor.system("bench")
    db = Database(url)
    with db.engine.begin() as conn:
        upgrade(connection=conn)
    with db.session_scope() as s:
        city = core.organization_create(s, system, OrganizationCreate(name="市", code="b-city", kind="city"))
        user = core.user_create(s, system, UserCreate(username="bench", password="bench-password-1", org_id=city.id))
        core.role_binding_create(s, system, RoleBindingCreate(user_id=user.id, org_id=city.id,
                                                              role="platform_admin"))
        _tok, raw = core.api_token_create(s, system, user.id, ApiTokenCreate(name="bench"))
    db.engine.dispose()
    return str(raw)


def _entity(i: int, rnd: random.Random) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Sensor:{i:06d}", "type": "Sensor",
        "temperature": {"type": "Property", "value": round(rnd.uniform(0, 40), 2), "unitCode": "CEL",
                        "observedAt": "2026-12-01T08:00:00Z"},
        "humidity": {"type": "Property", "value": round(rnd.uniform(20, 100), 1), "unitCode": "P1"},
        "pm25": {"type": "Property", "value": round(rnd.uniform(0, 200), 1)},
        "noise": {"type": "Property", "value": round(rnd.uniform(30, 90), 1)},
        "battery": {"type": "Property", "value": round(rnd.uniform(0, 1), 3)},
        "status": {"type": "Property", "value": rnd.choice(["ok", "degraded", "offline"])},
        "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:{i % 5000}"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [
            round(LON + rnd.uniform(-0.1, 0.1), 6), round(LAT + rnd.uniform(-0.1, 0.1), 6)]}},
    }


def _post_all(port: int, token: str, bodies: list[bytes], conns: int) -> float:
    """Entities per second of POSTing `bodies` (1,000 entities each) to upsert over `conns` keep-alive connections."""
    import httpx

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    chunks = [bodies[k::conns] for k in range(conns)]

    def send(chunk: list[bytes]) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=300) as http:
            for body in chunk:
                resp = http.post("/ngsi-ld/v1/entityOperations/upsert", content=body)
                if resp.status_code not in (201, 204):
                    raise RuntimeError(f"upsert: {resp.status_code} {resp.text[:300]}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(conns) as pool:
        list(pool.map(send, chunks))
    return BATCH * len(bodies) / (time.perf_counter() - t0)


def _load(port: int, token: str) -> tuple[float, float]:
    """(upserts/s over UPSERT_CONNS connections, upserts/s over one) creating ENTITIES entities.

    The request bodies are made and serialised before the clock starts: the client's work is not the broker's. The
    first fifth of the entities go over one connection (each batch waits for the previous answer, so the server's
    parsing and the database's writing never overlap), the rest over UPSERT_CONNS connections, as NGSI-LD clients
    that feed a broker (IoT agents, batch loaders) do."""
    rnd = random.Random(1)
    bodies = [json.dumps([_entity(i, rnd) for i in range(start, min(start + BATCH, ENTITIES))]).encode()
              for start in range(0, ENTITIES, BATCH)]
    first = max(1, len(bodies) // 5)
    one = _post_all(port, token, bodies[:first], 1)
    many = _post_all(port, token, bodies[first:], UPSERT_CONNS) if len(bodies) > first else one
    return many, one


def _load_history(port: int, token: str) -> str:
    """INSTANCES past temperatures of one entity, one every 10 s from 2026-11-01; the aggregation request."""
    import httpx

    rnd = random.Random(3)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    eid = "urn:ngsi-ld:Sensor:000000"
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=300) as http:
        for lo in range(0, INSTANCES, 5000):
            body = {"temperature": [
                {"type": "Property", "value": round(rnd.uniform(0, 40), 2),
                 "observedAt": (start + timedelta(seconds=10 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")}
                for i in range(lo, min(lo + 5000, INSTANCES))]}
            resp = http.post(f"/ngsi-ld/v1/temporal/entities/{eid}/attrs", content=json.dumps(body))
            if resp.status_code != 204:
                raise RuntimeError(f"temporal append: {resp.status_code} {resp.text[:300]}")
    end = start + timedelta(seconds=10 * INSTANCES)
    return (f"/ngsi-ld/v1/temporal/entities/{eid}?attrs=temperature&options=aggregatedValues"
            "&aggrMethods=totalCount,sum,avg,min,max,stddev&aggrPeriodDuration=PT1H&timerel=between"
            f"&timeAt={quote(start.isoformat())}&endTimeAt={quote(end.isoformat())}")


def _concurrent_gets(port: int, token: str, entity_id: str) -> float:
    """GETs per second of one entity over CONNS keep-alive connections from `_loadgen.py` (its own process, on the
    last core, niced, as in benchmarks/compute.py)."""
    cpus = sorted(os.sched_getaffinity(0))

    def pin() -> None:
        os.sched_setaffinity(0, {cpus[-1]})
        os.nice(5)

    out = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "_loadgen.py"),
                          f"/ngsi-ld/v1/entities/{entity_id}", str(port), str(SECONDS), str(CONNS),
                          f"Authorization: Bearer {token}"], capture_output=True, text=True, timeout=SECONDS + 120,
                         preexec_fn=pin)
    if out.returncode:
        raise RuntimeError(f"load generator failed: {out.stderr[-2000:]}")
    load = json.loads(out.stdout)
    if set(load["counts"]) != {"200"}:
        raise RuntimeError(f"load generator answers: {load['counts']}")
    return float(load["counts"]["200"] / load["elapsed_s"])


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it cannot be read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _db_cpu_s(url: str) -> float:
    """CPU seconds of the database's backends on this machine (PostgreSQL; 0 elsewhere)."""
    if not url.startswith("postgresql"):
        return 0.0
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                           "AND pid <> pg_backend_pid()")]
    return sum(_cpu_s(p) for p in pids)


def _timed(conn: Sequential, reqs: list[bytes]) -> list[float]:
    out = []
    for req in reqs:
        status, ms, body = conn.call(req)
        if status != 200:
            raise RuntimeError(f"{status} {body[:300]!r}")
        out.append(ms)
    return out


def _sql_baseline(url: str, ids: list[str], ranges: list[float]) -> tuple[list[float], list[float]]:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    gets, queries = [], []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for eid in ids:
            t0 = time.perf_counter()
            conn.execute("SELECT entity_id, types, attrs FROM context_entity WHERE entity_id = %s", (eid,)).fetchall()
            gets.append((time.perf_counter() - t0) * 1000)
        iri = "https://uri.etsi.org/ngsi-ld/default-context/"
        for a in ranges:
            t0 = time.perf_counter()
            conn.execute(  # the best one statement can do on this schema: the type rows and the number index
                "SELECT e.entity_id, e.attrs FROM context_entity e WHERE EXISTS (SELECT 1 FROM context_entity_type t "
                "WHERE t.entity_pk = e.id AND t.type = %s) AND e.id IN (SELECT n.entity_pk FROM context_number n "
                "WHERE n.attr = %s AND n.value >= %s AND n.value < %s) ORDER BY e.entity_id LIMIT 100",
                (iri + "Sensor", iri + "temperature", a, a + 0.2)).fetchall()
            queries.append((time.perf_counter() - t0) * 1000)
    return gets, queries


def main() -> None:
    url = scratch_database("cityhub_bench_context")
    token = _build(url)
    port = free_port()
    server = serve(url, port)
    rnd = random.Random(2)
    auth = {"Authorization": f"Bearer {token}"}
    try:
        cpu0, db0 = _cpu_s(server.pid), _db_cpu_s(url)
        upserts_per_s, upserts_one_conn_per_s = _load(port, token)
        cpu1, db1 = _cpu_s(server.pid), _db_cpu_s(url)
        conn = Sequential(port)
        ids = [f"urn:ngsi-ld:Sensor:{rnd.randrange(ENTITIES):06d}" for _ in range(N)]
        get_reqs = [request_bytes(f"/ngsi-ld/v1/entities/{i}", port, auth) for i in ids]
        _timed(conn, get_reqs[:100])  # warm-up
        cpu2, db2 = _cpu_s(server.pid), _db_cpu_s(url)
        gets = _timed(conn, get_reqs)
        cpu3, db3 = _cpu_s(server.pid), _db_cpu_s(url)
        ranges = [round(rnd.uniform(0, 39.8), 2) for _ in range(QUERIES)]
        q_reqs = [request_bytes("/ngsi-ld/v1/entities?type=Sensor&limit=100&q="
                                + quote(f"temperature>={a};temperature<{round(a + 0.2, 2)}"), port, auth)
                  for a in ranges]
        _timed(conn, q_reqs[:10])
        queries = _timed(conn, q_reqs)
        geo_reqs = [request_bytes("/ngsi-ld/v1/entities?type=Sensor&limit=100&georel=near%3BmaxDistance%3D%3D200"
                                  "&geometry=Point&coordinates=" + quote(json.dumps(
                                      [round(LON + rnd.uniform(-0.1, 0.1), 5),
                                       round(LAT + rnd.uniform(-0.1, 0.1), 5)])), port, auth)
                    for _ in range(QUERIES)]
        _timed(conn, geo_reqs[:10])
        geos = _timed(conn, geo_reqs)
        conn.close()
        aggr_req = request_bytes(_load_history(port, token), port, auth)
        conn = Sequential(port)  # a fresh one: the server closes a connection idle while the history loads
        _timed(conn, [aggr_req] * 3)
        cpu4, db4 = _cpu_s(server.pid), _db_cpu_s(url)
        aggrs = _timed(conn, [aggr_req] * AGGR_QUERIES)
        cpu5, db5 = _cpu_s(server.pid), _db_cpu_s(url)
        conn.close()
        concurrent = _concurrent_gets(port, token, ids[0])
        rss = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    result: dict[str, Any] = {
        "entities": ENTITIES, "database": url.split(":", 1)[0],
        "batch_upserts_per_s": round(upserts_per_s, 1), "batch_upserts_connections": UPSERT_CONNS,
        "batch_upserts_one_conn_per_s": round(upserts_one_conn_per_s, 1),
        "get_per_s": round(1000 / (sum(gets) / len(gets)), 1),
        "get_concurrent_per_s": round(concurrent, 1), "get_concurrent_connections": CONNS,
        "get_p50_ms": round(pct(gets, 50), 3), "get_p95_ms": round(pct(gets, 95), 3),
        "query_type_q_p50_ms": round(pct(queries, 50), 3), "query_type_q_p95_ms": round(pct(queries, 95), 3),
        "geo_near_p50_ms": round(pct(geos, 50), 3), "geo_near_p95_ms": round(pct(geos, 95), 3),
        "temporal_instances": INSTANCES,
        "temporal_aggr_p50_ms": round(pct(aggrs, 50), 3), "temporal_aggr_p95_ms": round(pct(aggrs, 95), 3),
        "rss_mb": round(rss, 1),
        "server_cpu_ms_per_upsert": round((cpu1 - cpu0) * 1000 / ENTITIES, 3),
        "server_cpu_ms_per_get": round((cpu3 - cpu2) * 1000 / N, 3),
        "db_cpu_ms_per_upsert": round((db1 - db0) * 1000 / ENTITIES, 3),
        "db_cpu_ms_per_get": round((db3 - db2) * 1000 / N, 3),
        "server_cpu_ms_per_aggr": round((cpu5 - cpu4) * 1000 / AGGR_QUERIES, 3),
        "db_cpu_ms_per_aggr": round((db5 - db4) * 1000 / AGGR_QUERIES, 3),
    }
    if url.startswith("postgresql"):
        sql_gets, sql_queries = _sql_baseline(url, ids, ranges)
        result.update({
            "sql_get_p95_ms": round(pct(sql_gets, 95), 3), "sql_query_p95_ms": round(pct(sql_queries, 95), 3),
            "get_p95_ratio_vs_sql": round(pct(gets, 95) / max(pct(sql_gets, 95), 1e-6), 1),
            "query_p95_ratio_vs_sql": round(pct(queries, 95) / max(pct(sql_queries, 95), 1e-6), 1),
        })
    record("context", result)


if __name__ == "__main__":
    main()
