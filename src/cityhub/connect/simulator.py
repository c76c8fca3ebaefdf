"""Realistic telemetry for the demo and benchmarks, with injected faults (spikes, drift, silence).

Bridge strain and deflection follow the daily temperature cycle plus traffic load; pipe galleries see slow gas
and water-level changes with rain bursts; traffic flow has morning and evening rush hours; public spaces get PM2.5
and noise with a daily rhythm. Each simulated device occasionally spikes, drifts for a while, or falls silent.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

CQ = ZoneInfo("Asia/Shanghai")


def _hour(ts: datetime) -> float:
    local = ts.astimezone(CQ)
    return local.hour + local.minute / 60 + local.second / 3600


def _daily(h: float, peak_hour: float) -> float:
    return math.cos(2 * math.pi * (h - peak_hour) / 24)


def _rush(h: float) -> float:
    return math.exp(-((h - 8.0) ** 2) / 1.5) + 0.9 * math.exp(-((h - 18.0) ** 2) / 2.0)


def _temperature(h: float) -> float:
    return 18.0 + 7.0 * _daily(h, 15.0)


Series = Callable[[float, random.Random, float], float]  # (local hour, rng, device offset) -> value

SERIES: dict[str, dict[str, Series]] = {
    "bridge-health": {
        # thermal strain follows the temperature; traffic adds a load term in rush hours
        "strain": lambda h, r, o: 120 + o * 20 + 9.0 * (_temperature(h) - 18) + 60 * _rush(h) + r.gauss(0, 4),
        "deflection": lambda h, r, o: 12 + o + 0.8 * (_temperature(h) - 18) + 9 * _rush(h) + r.gauss(0, 0.6),
        "temperature": lambda h, r, o: _temperature(h) + o * 0.5 + r.gauss(0, 0.3),
        "vibration": lambda h, r, o: abs(1.2 + 2.5 * _rush(h) + r.gauss(0, 0.4)),
    },
    "pipe-gallery": {
        "ch4": lambda h, r, o: max(0.0, 1.5 + o * 0.3 + r.gauss(0, 0.25)),
        "water_level": lambda h, r, o: max(0.0, 20 + o * 5 + (120 if r.random() < 0.01 else 0) + r.gauss(0, 2)),
        "o2": lambda h, r, o: 20.8 + r.gauss(0, 0.08),
        "temperature": lambda h, r, o: 21 + 2 * _daily(h, 16) + r.gauss(0, 0.2),
    },
    "traffic-flow": {
        "flow": lambda h, r, o: max(0.0, 300 + 2400 * _rush(h) + 500 * (6 < h < 22) + r.gauss(0, 80)),
        "speed": lambda h, r, o: max(5.0, 62 - 30 * _rush(h) + r.gauss(0, 3)),
        "occupancy": lambda h, r, o: min(100.0, max(0.0, 6 + 45 * _rush(h) + r.gauss(0, 2))),
    },
    "air-noise": {
        "pm25": lambda h, r, o: max(1.0, 38 + o * 4 + 12 * _daily(h, 8) + r.gauss(0, 3)),
        "noise": lambda h, r, o: 48 + 12 * (7 < h < 23) + 6 * _rush(h) + r.gauss(0, 1.5),
    },
    "building-safety": {
        "tilt": lambda h, r, o: 0.15 + o * 0.05 + r.gauss(0, 0.005),
        "crack_width": lambda h, r, o: 0.35 + o * 0.1 + r.gauss(0, 0.004),
    },
}


@dataclass
class SimDevice:
    """One simulated device and its fault state."""

    device_id: uuid.UUID
    profile_code: str
    offset: float
    token: str = ""
    drift: float = 0.0
    drift_left: int = 0
    silent_left: int = 0
    faults: dict[str, int] = field(default_factory=lambda: {"spike": 0, "drift": 0, "silence": 0})


class Simulator:
    """Builds one record per call for a device, injecting faults at the given probabilities."""

    def __init__(self, devices: list[SimDevice], seed: int = 42, spike_p: float = 0.002, drift_p: float = 0.001,
                 silence_p: float = 0.0005) -> None:
        self.devices = [d for d in devices if d.profile_code in SERIES]
        self.rng = random.Random(seed)
        self.spike_p, self.drift_p, self.silence_p = spike_p, drift_p, silence_p

    def record(self, device: SimDevice, ts: datetime) -> dict[str, object] | None:
        """The next record of `device` at `ts`, or None while it is silent."""
        r = self.rng
        if device.silent_left > 0:
            device.silent_left -= 1
            return None
        if r.random() < self.silence_p:
            device.silent_left = r.randint(20, 200)
            device.faults["silence"] += 1
            return None
        if device.drift_left <= 0 and r.random() < self.drift_p:
            device.drift_left = r.randint(50, 400)
            device.drift = 0.0
            device.faults["drift"] += 1
        h = _hour(ts)
        values: dict[str, float] = {}
        for key, fn in SERIES[device.profile_code].items():
            values[key] = fn(h, r, device.offset)
        first = next(iter(values))
        if device.drift_left > 0:
            device.drift_left -= 1
            device.drift += abs(values[first]) * 0.002 + 0.01
            values[first] += device.drift
        if r.random() < self.spike_p:
            values[first] *= r.choice((4.0, -3.0, 10.0))
            device.faults["spike"] += 1
        return {"ts": ts.isoformat(timespec="milliseconds"), "values": {k: round(v, 3) for k, v in values.items()}}

    def fault_counts(self) -> dict[str, int]:
        """Faults injected so far, by kind."""
        out = {"spike": 0, "drift": 0, "silence": 0}
        for d in self.devices:
            for k, v in d.faults.items():
                out[k] += v
        return out
