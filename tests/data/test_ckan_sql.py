"""datastore_search_sql: one SELECT over open datastore tables; a hostile-input list is refused with a 409."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.data import sqlguard
from cityhub.kit.errors import ValidationFailed
from tests.data.helpers import load_people, published_entry
from tests.data.portal_helpers import open_entry

A = "/api/3/action/datastore_search_sql"


def _world(world: Any) -> dict[str, str]:
    _e, res = open_entry(world, "户籍人口统计")
    _c, cond = open_entry(world, "企业登记信息", open_type="conditional")
    secret = published_entry(world, title="不动产登记明细")
    hidden = load_people(world, secret)
    world.session.flush()
    return {"open": str(res.id), "cond": str(cond.id), "secret": str(hidden.id), "table": str(res.table_name)}


def test_select_over_an_open_table(client: Any, world: Any) -> None:
    t = _world(world)
    sql = f'SELECT gender, count(*) AS n, avg(income) AS avg_income FROM "{t["open"]}" GROUP BY gender ORDER BY gender'
    r = client.get(A, params={"sql": sql})
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert [rec["gender"] for rec in result["records"]] == sorted(["男", "女"])
    assert {rec["gender"]: rec["n"] for rec in result["records"]} == {"男": 1, "女": 2}
    assert result["records_truncated"] is False
    # aliases, CTEs, subqueries, window functions and LIKE with % and : inside literals all work
    sql = (f'WITH w AS (SELECT * FROM "{t["open"]}" p WHERE p.gender LIKE \'%女%\' OR \'a:b\' = \'c\') '
           "SELECT row_number() OVER (ORDER BY birth_date) AS rn, birth_date FROM w")
    resp = client.post(A.replace("/3", ""), json={"sql": sql})
    assert resp.status_code == 200, resp.text
    rows = resp.json()["result"]["records"]
    assert [r["rn"] for r in rows] == [1, 2]


def test_row_limit_truncates(client: Any, world: Any, monkeypatch: Any) -> None:
    t = _world(world)
    from cityhub.kit.settings import get_settings

    monkeypatch.setenv("CITYHUB_PORTAL_SQL_MAX_ROWS", "2")
    get_settings.cache_clear()
    try:
        result = client.get(A, params={"sql": f'SELECT _id FROM "{t["open"]}"'}).json()["result"]
    finally:
        monkeypatch.delenv("CITYHUB_PORTAL_SQL_MAX_ROWS")
        get_settings.cache_clear()
    assert len(result["records"]) == 2 and result["records_truncated"] is True


HOSTILE = [
    "",
    "DELETE FROM \"{open}\"",
    "UPDATE \"{open}\" SET gender = 'x'",
    "INSERT INTO \"{open}\" (gender) VALUES ('x')",
    "DROP TABLE \"{open}\"",
    "CREATE TABLE x AS SELECT * FROM \"{open}\"",
    "SELECT * INTO stolen FROM \"{open}\"",
    "SELECT 1; DROP TABLE \"{open}\"",
    "SELECT * FROM \"{open}\"; SELECT * FROM \"{open}\"",
    "SELECT * FROM \"{open}\" FOR UPDATE",
    "SELECT name FROM \"{open}\"",  # a masked column does not exist in the open view
    "SELECT id_number FROM \"{open}\"",
    "SELECT \"{open}\".phone FROM \"{open}\"",
    "SELECT ctid, xmin FROM \"{open}\"",
    "SELECT * FROM \"{cond}\"",  # 有条件开放: not open without conditions
    "SELECT * FROM \"{secret}\"",  # 不予开放
    "SELECT * FROM \"{table}\"",  # the physical table name is not a resource id
    "SELECT * FROM core_user",
    "SELECT * FROM pg_catalog.pg_user",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM \"{open}\" a JOIN core_api_token t ON true",
    "SELECT * FROM \"{open}\" WHERE _id IN (SELECT id FROM core_user)",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_ls_dir('.') FROM \"{open}\"",
    "SELECT lo_import('/etc/passwd') FROM \"{open}\"",
    "SELECT * FROM dblink('host=x', 'select 1') AS t(a int)",
    "SELECT pg_sleep(10) FROM \"{open}\"",
    "SELECT current_setting('data_directory') FROM \"{open}\"",
    "SELECT set_config('statement_timeout', '0', false) FROM \"{open}\"",
    "SELECT version() FROM \"{open}\"",
    "SELECT current_user FROM \"{open}\"",
    "SELECT nextval('x') FROM \"{open}\"",
    "SELECT * FROM generate_series(1, 1000000000)",
    "SELECT load_extension('x') FROM \"{open}\"",
    "COPY \"{open}\" TO '/tmp/x'",
    "SET statement_timeout = 0",
    "SELECT $1 FROM \"{open}\"",
    "SELECT * FROM \"{open}\" TABLESAMPLE SYSTEM (10)",
    "SELECT * FROM nonexistent",
    "SELECT * FROM \"00000000-0000-0000-0000-000000000000\"",
    "SELEC * FROM \"{open}\"",
    "SELECT * FROM \"{open}\" WHERE gender = 'unterminated",
    "SELECT 1",  # reads no datastore table
    "/* comment */ DELETE FROM \"{open}\" -- SELECT",
    "x" * 20_000,
]


def test_hostile_sql_is_refused(client: Any, world: Any) -> None:
    t = _world(world)
    failures = []
    for sql in HOSTILE:
        query = sql.format(**t)
        r = client.post(A, json={"sql": query})
        body = r.json()
        if r.status_code != 409 or body["success"] is not False or body["error"]["__type"] != "Validation Error" \
                or "sql" not in body["error"]:
            failures.append(f"{query[:80]!r}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)
    # nothing was changed: the open table still answers with all its rows
    ok = client.get("/api/3/action/datastore_search", params={"resource_id": t["open"]}).json()["result"]
    assert ok["total"] == 3


def test_statement_timeout(session: Any, world: Any) -> None:
    t = _world(world)
    # a cross join of the table with itself many times is slow enough for a 1 ms limit on both backends
    joins = " CROSS JOIN ".join(f'"{t["open"]}" t{i}' for i in range(9))
    with pytest.raises(ValidationFailed) as err:
        sqlguard.run(session, f"SELECT count(*) FROM {joins}", timeout_ms=1, max_rows=10)
    assert err.value.field == "sql" and ("1 ms" in err.value.message or "1 毫秒" in err.value.message)
    # the session is still usable afterwards (the failure was confined to a savepoint)
    assert sqlguard.run(session, f'SELECT count(*) AS n FROM "{t["open"]}"', timeout_ms=2000,
                        max_rows=10)["records"] == [{"n": 3}]
