"""Processes `make run` keeps alive next to the server: a light simulated stream (and the ingest worker).

With `CITYHUB_MQTT_URL` set, an ingest worker runs and the simulator publishes over MQTT; without a broker the
simulator posts over HTTP to the server itself (the same validation and storage path).
"""

from __future__ import annotations

import sys

from cityhub.kit.settings import Settings

SIM_DEVICES = 200


def commands(settings: Settings) -> list[list[str]]:
    """The ingest worker (with a broker) and the simulator."""
    cli = [sys.executable, "-m", "cityhub.cli"]
    out: list[list[str]] = []
    sim = [*cli, "simulate", "--devices", str(SIM_DEVICES), "--rate", str(settings.connect_simulate_rate),
           "--duration", "0", "--quiet"]
    if settings.mqtt_url:
        out.append([*cli, "ingest"])
        if settings.connect_simulate_rate > 0:
            out.append([*sim, "--mqtt", settings.mqtt_url])
    elif settings.connect_simulate_rate > 0:
        out.append([*sim, "--http", f"http://{settings.host}:{settings.port}"])
    return out
