from __future__ import annotations

import pytest

from codexos_server.auth.scopes import covers, grants, validate_scopes
from codexos_server.errors import ValidationFailed


def test_grants_with_wildcards() -> None:
    assert grants({"agents:read"}, "agents:read")
    assert not grants({"agents:read"}, "agents:write")
    assert grants({"agents:*"}, "agents:execute")
    assert not grants({"agents:*"}, "workflows:read")
    assert grants({"*"}, "admin")
    assert not grants(set(), "profile")


def test_covers() -> None:
    assert covers({"agents:*"}, ["agents:read", "agents:write"])
    assert covers({"agents:read", "agents:write", "agents:execute"}, ["agents:*"])
    assert not covers({"agents:read"}, ["agents:*"])
    assert not covers({"agents:*"}, ["*"])
    assert covers({"*"}, ["*", "profile"])


def test_validate_scopes() -> None:
    assert validate_scopes(["profile", "agents:*", "profile"]) == ["agents:*", "profile"]
    for bad in (["nope"], ["agents:nope"], ["nope:*"], []):
        with pytest.raises(ValidationFailed):
            validate_scopes(bad)
