"""A synthetic lake for the analytics tests: hourly telemetry of a few devices over a few days, and a registry."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cityhub.compute.analytics import lake

ARCHIVE_SCHEMA = lake.TELEMETRY.remove(lake.TELEMETRY.get_field_index("day"))  # the file holds no `day`


def synthetic_lake(root: Path, *, devices: int = 6, days: int = 3, seed: int = 7) -> Path:
    """Hourly `level` and `flow` per device, one spike per device, a text metric; devices in two profiles."""
    rng = random.Random(seed)
    for d in range(days):
        day = date(2026, 3, 1) + timedelta(days=d)
        rows = []
        for n in range(devices):
            for h in range(24):
                ts = datetime(day.year, day.month, day.day, h, tzinfo=UTC)
                level = 1.0 + n * 0.1 + rng.gauss(0, 0.05)
                if d == 1 and h == n + 3:  # one spike per device, each of a different size: a strict top-k order
                    level += 2.0 + n * 0.37
                rows.append({"device_id": f"dev-{n}", "key": "level", "ts": ts, "value": level, "text": None})
                rows.append({"device_id": f"dev-{n}", "key": "flow", "ts": ts, "value": rng.uniform(10, 20),
                             "text": None})
                if h == 0:
                    rows.append({"device_id": f"dev-{n}", "key": "state", "ts": ts, "value": None, "text": "ok"})
        path = root / "telemetry" / f"day={day:%Y-%m-%d}" / "telemetry.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=ARCHIVE_SCHEMA), path)
    registry = [{"device_id": f"dev-{n}", "name": f"设备 {n}", "org_id": "org-a" if n % 2 else "org-b",
                 "profile_code": "pipe-gallery" if n % 3 else "traffic-flow", "asset_id": None,
                 "district_id": None if n == 0 else f"district-{n % 2}", "lon": 106.5, "lat": 29.5,
                 "status": "active"} for n in range(devices - 1)]  # the last device is not in the registry
    lake.write_table(root / "registry" / "devices.parquet", pa.Table.from_pylist(registry, schema=lake.DEVICES))
    alarms = [{"alarm_id": f"a{i}", "org_id": "org-a", "originator_type": "device", "originator_id": f"dev-{i}",
               "type": "high_level", "severity": ("critical", "major")[i % 2], "acknowledged": False,
               "cleared": i % 3 == 0, "start_ts": datetime(2026, 3, 1 + i % 2, 5, tzinfo=UTC),
               "end_ts": datetime(2026, 3, 1 + i % 2, 6, tzinfo=UTC), "clear_ts": None, "count": 1,
               "rule_id": None, "district_id": None, "incident_id": None} for i in range(5)]
    lake.write_table(root / "ops" / "alarms.parquet", pa.Table.from_pylist(alarms, schema=lake.ALARMS))
    return root
