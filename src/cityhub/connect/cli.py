"""`cityhub ingest`, `cityhub simulate`, `cityhub connect mosquitto-auth`, `cityhub telemetry archive`."""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cityhub.connect import archive as archive_mod
from cityhub.connect import service
from cityhub.connect.mqtt import broker_files, worker
from cityhub.connect.mqtt import client as mqtt_client
from cityhub.connect.simulator import SimDevice, Simulator
from cityhub.core.service import Actor
from cityhub.kit import context
from cityhub.kit.db import Database
from cityhub.kit.errors import CityhubError
from cityhub.kit.settings import get_settings

connect_app = typer.Typer(help="联 Connect: devices and the broker.", no_args_is_help=True)
telemetry_app = typer.Typer(help="Telemetry store: retention and archive.", no_args_is_help=True)
err = Console(stderr=True)
ACTOR = Actor.system("connect")


def _db() -> Database:
    context.set_current(context.RequestContext(channel="cli"))
    return Database.from_settings()


def ingest(
    client_id: Annotated[str | None, typer.Option(help="MQTT client id (stable per worker: persistent session).")
                         ] = None,
    group: Annotated[str | None, typer.Option(help="Shared-subscription group.")] = None,
    prefix: Annotated[str | None, typer.Option(help="Topic prefix (default cityhub/v1).")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve this worker's Prometheus metrics here.")] = None,
) -> None:
    """Run an MQTT ingest worker (QoS 1, persistent session, shared subscription, ack after commit)."""
    s = get_settings()
    logging.basicConfig(level=s.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    signal.signal(signal.SIGINT, lambda *_a: stop.set())
    stats = worker.run_worker(_db(), s, client_id=client_id, group=group, prefix=prefix, duration=duration,
                            metrics_port=metrics_port, stop=stop)
    err.print(f"ingest: {stats.messages} messages, {stats.stored} stored, {stats.duplicates} duplicates, "
              f"{stats.quarantined} quarantined")


def _sim_devices(db: Database, n: int, rotate: bool) -> list[SimDevice]:
    with db.session_scope() as session:
        refs = service.device_refs(session, status="active")[:n]
        out = []
        for i, ref in enumerate(refs):
            token = service.device_token_rotate(session, Actor.system("simulator"), ref.device_id)[1] if rotate else ""
            out.append(SimDevice(ref.device_id, ref.profile_code, offset=(i % 7) / 7, token=token))
    return out


def simulate(
    devices: Annotated[int, typer.Option(help="How many registered devices to drive.")] = 100,
    rate: Annotated[float, typer.Option(help="Points per second in total.")] = 100.0,
    duration: Annotated[float, typer.Option(help="Seconds to run (0: until stopped).")] = 60.0,
    mqtt_url: Annotated[str | None, typer.Option("--mqtt", help="Publish over MQTT to this broker.")] = None,
    http_url: Annotated[str | None, typer.Option("--http", help="Post over HTTP to this cityhub server.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    quiet: Annotated[bool, typer.Option(help="No progress bar (background use).")] = False,
) -> None:
    """Publish realistic series for registered devices with occasional spikes, drift and silence."""
    if not mqtt_url and not http_url:
        mqtt_url = get_settings().mqtt_url or None
    if not mqtt_url and not http_url:
        raise typer.BadParameter("give --mqtt URL or --http URL (or set CITYHUB_MQTT_URL)")
    db = _db()
    sims: list[SimDevice] = []
    while not sims:
        # HTTP needs each device's token: the simulator issues new ones for the devices it drives (audited).
        sims = _sim_devices(db, devices, rotate=bool(http_url))
        if not sims:
            if duration:
                raise typer.BadParameter("no active devices are registered (run `cityhub demo`)")
            time.sleep(10)
    sim = Simulator(sims, seed=seed)
    per_msg = {d.device_id: len(_keys(d)) for d in sim.devices}
    prefix = get_settings().mqtt_topic_prefix
    client: Any = mqtt_client.publisher(mqtt_url) if mqtt_url else None
    http = httpx.Client(base_url=http_url, timeout=10) if http_url else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    total = rate * duration if duration else None
    sent_points = 0
    errors = 0
    started = time.monotonic()
    i = 0
    with Progress(TextColumn("[bold]simulate[/bold]"), BarColumn(), TextColumn("{task.completed:.0f} points"),
                  TextColumn("{task.fields[faults]}"), TimeElapsedColumn(), console=err, disable=quiet) as progress:
        task = progress.add_task("points", total=total, faults="")
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if duration and elapsed >= duration:
                break
            due = rate * elapsed
            if sent_points >= due:
                time.sleep(min(0.05, (sent_points - due) / rate + 0.001))
                continue
            dev = sim.devices[i % len(sim.devices)]
            i += 1
            rec = sim.record(dev, datetime.now(UTC))
            if rec is None:
                sent_points += per_msg[dev.device_id]  # a silent device still uses its slot
                continue
            body = orjson.dumps(rec)
            try:
                if client is not None:
                    client.publish(f"{prefix}/devices/{dev.device_id}/telemetry", body, qos=1)
                elif http is not None:
                    http.post(f"/api/v1/devices/{dev.device_id}/telemetry", content=body,
                              headers={"Authorization": f"Bearer {dev.token}", "Content-Type": "application/json"})
            except httpx.HTTPError:
                errors += 1
                time.sleep(1)  # the server may still be starting
            sent_points += per_msg[dev.device_id]
            progress.update(task, completed=sent_points,
                            faults=" ".join(f"{k}:{v}" for k, v in sim.fault_counts().items()))
    if client is not None:
        client.loop_stop()
        client.disconnect()
    faults = ", ".join(f"{k} {v}" for k, v in sim.fault_counts().items())
    err.print(f"simulate: {sent_points} points from {len(sim.devices)} devices · injected faults: {faults} · "
              f"{errors} send errors (the server may still have been starting)" if errors else
              f"simulate: {sent_points} points from {len(sim.devices)} devices · injected faults: {faults}")


def _keys(d: SimDevice) -> list[str]:
    from cityhub.connect.simulator import SERIES

    return list(SERIES[d.profile_code])


@connect_app.command("mosquitto-auth")
def mosquitto_auth(
    outdir: Annotated[Path, typer.Argument(help="Folder for the `passwd` and `acl` files.")],
    ingest_password: Annotated[str | None, typer.Option(
        help="Password of the ingest user (default: from CITYHUB_MQTT_URL).")] = None,
) -> None:
    """Write a Mosquitto password file and ACL file (each device publishes only to its own topic)."""
    s = get_settings()
    password = ingest_password or mqtt_client.BrokerUrl.parse(s.mqtt_url or "mqtt://127.0.0.1").password
    if not password:
        raise typer.BadParameter("give --ingest-password or put the password in CITYHUB_MQTT_URL")
    db = _db()
    with db.session_scope() as session:
        accounts = service.broker_accounts(session, ACTOR)
    passwd, acl = broker_files.write_broker_auth(outdir, accounts, password, prefix=s.mqtt_topic_prefix)
    err.print(f"[green]{len(accounts)} devices[/green] + {broker_files.INGEST_USER}: {passwd}, {acl} "
              "(mosquitto.conf: password_file, acl_file, allow_anonymous false; send SIGHUP to reload)")


@telemetry_app.command("archive")
def telemetry_archive(
    before: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="Archive points before this UTC date.")],
) -> None:
    """Write telemetry before DATE to Parquet under <var_dir>/lake/telemetry/ (by day), then delete those rows."""
    s = get_settings()
    try:
        out = archive_mod.archive(_db(), ACTOR, before.replace(tzinfo=UTC), s.lake_dir)
    except CityhubError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    err.print(f"telemetry archive: {out['archived']} points in {out['days']} day files, {out['deleted']} deleted "
              f"({archive_mod.glob_pattern(s.lake_dir)})")


def register(app: typer.Typer) -> None:
    """Add `cityhub ingest`, `cityhub simulate`, `cityhub connect …` and `cityhub telemetry …`."""
    app.command("ingest")(ingest)
    app.command("simulate")(simulate)
    app.add_typer(connect_app, name="connect")
    app.add_typer(telemetry_app, name="telemetry")


