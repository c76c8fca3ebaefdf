"""Every long-running worker, as `make run` starts it, rides out a database outage: PostgreSQL is reached through a
proxy the test cuts (connections dropped, new ones refused) and restores. The worker must stay up, say so in its
heartbeat and log once, resume on its own, and stop cleanly (status 0) on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.outages import Mosquitto, TcpProxy, child_env, heartbeat, pg_scratch, via_proxy, wait_for

WORKERS = {
    # name: (arguments, heartbeat file, cut the database before the worker starts)
    "ops": (["ops", "worker", "--interval", "0.5"], "ops-worker", False),
    "cloud": (["cloud", "worker", "--interval", "0.5"], "cloud-worker", False),
    "data": (["data", "sla-check", "--every", "1"], "data-sla-check", False),
    "ingest": (["ingest", "--client-id", "w-outage"], "ingest-w-outage", True),
}


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    yield from pg_scratch("cityhub_outage_workers")


def _when(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else 0.0


@pytest.mark.parametrize("which", list(WORKERS))
def test_the_worker_rides_out_a_database_outage(which: str, pg_url: str, tmp_path: Path) -> None:
    args, name, cut_first = WORKERS[which]
    pg = make_url(pg_url)
    proxy = TcpProxy(pg.host or "127.0.0.1", pg.port or 5432)
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    log = tmp_path / "worker.log"
    env = child_env(CITYHUB_DATABASE_URL=via_proxy(pg_url, proxy), CITYHUB_VAR_DIR=str(tmp_path),
                    CITYHUB_MQTT_URL=broker.url if which == "ingest" else "", CITYHUB_OPS_EVALUATION="queue",
                    CITYHUB_LOG_LEVEL="INFO")
    if cut_first:
        proxy.cut()
    proc = subprocess.Popen([sys.executable, "-m", "cityhub.cli", *args], env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)

    def beat() -> dict[str, Any]:
        return heartbeat(tmp_path, name)

    def text() -> str:
        return log.read_text(errors="replace")

    try:
        if not cut_first:
            wait_for(lambda: beat().get("state") == "running" and beat().get("last_success"), 40,
                     f"{which} to run a pass: {text()[-1500:]}")
            proxy.cut()
        cut_at = time.time()
        wait_for(lambda: beat().get("state") == "waiting_for_database", 20,
                 f"{which} to notice the outage: {text()[-1500:]}")
        time.sleep(3)
        assert proc.poll() is None, text()[-3000:]
        # the heartbeat is rewritten every 5 s while waiting: the retries show there
        wait_for(lambda: beat()["state"] == "waiting_for_database" and beat()["consecutive_failures"] >= 2, 10,
                 "the heartbeat to count the retries")

        proxy.restore()
        wait_for(lambda: beat().get("state") == "running" and _when(beat().get("last_success")) > cut_at, 30,
                 f"{which} to come back: {text()[-1500:]}")
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, text()[-3000:]
        assert beat()["state"] == "stopped"
        out = text()
        assert out.count("waiting for database") == 1 and out.count("database back") == 1, out[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proxy.close()
        broker.stop()
