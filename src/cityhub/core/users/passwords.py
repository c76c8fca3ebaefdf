"""Password hashing: argon2id at the OWASP minimum cost.

Callers use `passwords.hash_password` / `passwords.verify_password` through the module, so a test-suite may swap
`_hasher` for a cheaper one (tests/conftest.py) and every caller follows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)  # OWASP minimum for argon2id


_reuse: ContextVar[dict[str, str] | None] = ContextVar("cityhub_password_hash_reuse", default=None)


@contextmanager
def one_hash_per_password() -> Iterator[None]:
    """Within it, a password already hashed gets the same hash (the same salt) again instead of a new one.

    For building many accounts that share one password by construction — the demo city's 146 users all get the
    printed demo password — where identical hashes tell nothing that the shared password does not, and each hash
    costs ~20 ms of argon2 (3 s of the demo build). Never for passwords people choose. A user who later changes
    their password gets a fresh salt as always (`tests/core/test_password_reuse.py`).
    """
    token = _reuse.set({})
    try:
        yield
    finally:
        _reuse.reset(token)


def hash_password(password: str) -> str:
    """argon2id hash (inside `one_hash_per_password`, the one already made for this password)."""
    memo = _reuse.get()
    if memo is None:
        return _hasher.hash(password)
    if password not in memo:
        memo[password] = _hasher.hash(password)
    return memo[password]


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash; False for a malformed hash, never an error."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
