"""The demo city, built by calling services (never raw inserts); idempotent and resumable step by step.

Each domain adds `demo/<domain>.py` with `build(session, ctx) -> dict[str, int]`; steps run in STEPS order,
each in its own transaction, and skip what already exists.
"""

from __future__ import annotations

import importlib
import importlib.util
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from cityhub.core.service import Actor
from cityhub.kit.db import Database

STEPS = ("core", "cloud", "connect", "data", "compute", "ops", "apply")


@dataclass
class DemoContext:
    """What every demo step shares."""

    password: str
    actor: Actor = field(default_factory=lambda: Actor.system("demo"))
    rng: random.Random = field(default_factory=lambda: random.Random(20261125))
    log: Callable[[str], None] = print


@dataclass
class DemoReport:
    """What the demo built."""

    password: str | None  # set only when this run generated it (print it once)
    counts: dict[str, dict[str, int]]


def build(db: Database, password: str | None = None, log: Callable[[str], None] = print,
          only: tuple[str, ...] | None = None) -> DemoReport:
    """Build (or complete) the demo city."""
    generated = not password
    ctx = DemoContext(password=password or secrets.token_urlsafe(9), log=log)
    counts: dict[str, dict[str, int]] = {}
    for step in only or STEPS:
        name = f"cityhub.demo.{step}"
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        with db.session_scope() as session:
            log(f"demo: {step} …")
            counts[step] = module.build(session, ctx)
    core_counts = counts.get("core", {})
    return DemoReport(password=ctx.password if generated and core_counts.get("users_created") else None,
                      counts=counts)


