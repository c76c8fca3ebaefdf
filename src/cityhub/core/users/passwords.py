"""Password hashing: argon2id at the OWASP minimum cost.

Callers use `passwords.hash_password` / `passwords.verify_password` through the module, so a test-suite may swap
`_hasher` for a cheaper one (tests/conftest.py) and every caller follows.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)  # OWASP minimum for argon2id


def hash_password(password: str) -> str:
    """argon2id hash."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash; False for a malformed hash, never an error."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
