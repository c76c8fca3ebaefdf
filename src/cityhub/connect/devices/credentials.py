"""Device credentials: the HTTP token (keyed hash), the broker password hash Mosquitto checks, the topic."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.connect import policies
from cityhub.connect.models import (
    Device,
    DeviceStatus,
)
from cityhub.core.actor import Actor
from cityhub.kit import clock
from cityhub.kit.errors import Unauthorized
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

TOKEN_PREFIX = "chdev"
BROKER_ITERATIONS = 101  # mosquitto_passwd's default for $7$ (PBKDF2-SHA512)


def _token_hash(raw: str) -> str:
    return hmac.new(get_settings().secret_key.encode(), f"device:{raw}".encode(), hashlib.sha256).hexdigest()


def broker_password_hash(password: str, salt: bytes | None = None, iterations: int = BROKER_ITERATIONS) -> str:
    """The `$7$` PBKDF2-SHA512 hash mosquitto_passwd writes (12-byte salt, 64-byte digest, base64)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def issue_token(device: Device) -> str:
    """Give the device a new token (its keyed hash and broker password hash stored); returns it once."""
    raw = f"{TOKEN_PREFIX}_{secrets.token_urlsafe(24)}"
    device.token_hash = _token_hash(raw)
    device.broker_hash = broker_password_hash(raw)
    device.token_rotated_at = clock.now()
    return raw


def device_authenticate(session: Session, device_id: uuid.UUID, raw: str) -> Device:
    """The device whose token this is (HTTP ingest); Unauthorized otherwise (unknown ids look the same)."""
    device = session.get(Device, device_id)
    expected = device.token_hash if device is not None else _token_hash("never-matches")
    if not hmac.compare_digest(expected, _token_hash(raw)) or device is None:
        raise Unauthorized(_("Unknown device or wrong device token"))
    return device


def topic_for(device_id: uuid.UUID) -> str:
    """The MQTT topic a device publishes to."""
    return f"{get_settings().mqtt_topic_prefix}/devices/{device_id}/telemetry"


def broker_accounts(session: Session, actor: Actor) -> list[tuple[uuid.UUID, str]]:
    """(device id, broker password hash) of every active device with a credential (for the broker files)."""
    policies.broker_auth_write(actor)
    return [(d, h) for d, h in session.execute(
        select(Device.id, Device.broker_hash).where(Device.status == DeviceStatus.ACTIVE, Device.broker_hash != "")
        .order_by(Device.id)).all()]
