from __future__ import annotations

import pytest

from codexos_server.auth.passwords import COMMON_PASSWORDS, PasswordHasher, check_password_policy
from codexos_server.errors import ValidationFailed


def test_policy() -> None:
    check_password_policy("a long passphrase")
    for bad in ("short", "Password123", "qwertyuiop", "x" * 257):
        with pytest.raises(ValidationFailed):
            check_password_policy(bad)
    assert len(COMMON_PASSWORDS) > 50


async def test_argon2id_round_trip() -> None:
    hasher = PasswordHasher(time_cost=1, memory_kib=1024)
    hashed = await hasher.hash("a long passphrase")
    assert hashed.startswith("$argon2id$")
    assert await hasher.verify(hashed, "a long passphrase")
    assert not await hasher.verify(hashed, "another passphrase")
    assert not await hasher.verify(None, "a long passphrase")
    assert not await hasher.verify("not a hash", "a long passphrase")
