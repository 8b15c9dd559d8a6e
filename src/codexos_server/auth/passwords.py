"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from pathlib import Path

import anyio
from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from codexos_server.errors import ValidationFailed

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256

# The most common passwords of at least 8 characters in public breach lists.
COMMON_PASSWORDS = frozenset(
    line.strip()
    for line in (Path(__file__).parent / "common_passwords.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)


def check_password_policy(password: str) -> None:
    """Raises: ValidationFailed naming the rule the password breaks."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            "Password is too short",
            [
                {
                    "field": "password",
                    "message": f"must be at least {MIN_PASSWORD_LENGTH} characters",
                }
            ],
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            "Password is too long",
            [{"field": "password", "message": f"must be at most {MAX_PASSWORD_LENGTH} characters"}],
        )
    if password.lower() in COMMON_PASSWORDS:
        raise ValidationFailed(
            "Password is too common",
            [{"field": "password", "message": "is in the list of commonly used passwords"}],
        )


class PasswordHasher:
    """argon2id, run on a worker thread so hashing never blocks the event loop."""

    def __init__(self, time_cost: int = 3, memory_kib: int = 64 * 1024) -> None:
        self._argon2 = _Argon2(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._dummy_hash = self._argon2.hash("codexos-timing-equaliser")

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._argon2.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True if the password matches. A missing hash still costs one verification, so
        response time does not reveal whether an account exists."""
        target = password_hash or self._dummy_hash
        try:
            ok = await anyio.to_thread.run_sync(self._argon2.verify, target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return bool(ok) and password_hash is not None
