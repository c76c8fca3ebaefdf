"""The Mosquitto password and ACL files: a device writes only its own topic, the ingest account reads all."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from cityhub.connect.devices.credentials import broker_password_hash

INGEST_USER = "cityhub-ingest"


def write_broker_auth(outdir: Path, accounts: Sequence[tuple[uuid.UUID, str]], ingest_password: str,
                      prefix: str = "cityhub/v1", ingest_user: str = INGEST_USER) -> tuple[Path, Path]:
    """Write a Mosquitto password file and ACL file: each device writes only its own topic, ingest reads all."""
    outdir.mkdir(parents=True, exist_ok=True)
    passwd = outdir / "passwd"
    acl = outdir / "acl"
    lines = [f"{ingest_user}:{broker_password_hash(ingest_password)}"]
    lines += [f"{device_id}:{hash_}" for device_id, hash_ in accounts]
    acl_lines = ["# written by `cityhub connect mosquitto-auth`; devices may publish only to their own topic",
                 f"user {ingest_user}", f"topic read {prefix}/devices/#", ""]
    for device_id, _hash in accounts:
        acl_lines += [f"user {device_id}", f"topic write {prefix}/devices/{device_id}/telemetry", ""]
    for path, text in ((passwd, "\n".join(lines) + "\n"), (acl, "\n".join(acl_lines))):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(path)  # atomic: a broker reloading on SIGHUP never reads half a file
    return passwd, acl
