"""The documented list of API scopes and how a grant is matched.

A browser/CLI session (JWT) holds every scope; an API key holds the scopes it was created
with. `agents:*` grants every `agents:` scope, `*` grants all.
"""

from __future__ import annotations

from collections.abc import Iterable

from codexos_server.errors import ValidationFailed

SCOPES: dict[str, str] = {
    "profile": "Read and update your own profile",
    "workspaces:read": "List workspaces, members and invitations",
    "workspaces:write": "Create and manage workspaces, members and invitations",
    "api_keys:read": "List API keys",
    "api_keys:write": "Create and revoke API keys",
    "agents:read": "Read agents, conversations and runs",
    "agents:write": "Create, update and delete agents",
    "agents:execute": "Execute agents",
    "workflows:read": "Read workflows and their runs",
    "workflows:write": "Create, update and delete workflows",
    "workflows:execute": "Run workflows and answer approvals",
    "knowledge:read": "Query knowledge bases and read documents",
    "knowledge:write": "Create knowledge bases and upload documents",
    "marketplace:read": "Browse listings and read your wallet",
    "marketplace:write": "Publish, install, purchase and review",
    "monitoring:read": "Read metrics, usage and costs",
    "monitoring:write": "Set usage budgets",
    "jobs:read": "Read background jobs",
    "jobs:write": "Cancel background jobs",
    "admin": "Administer the server (only for users with the admin role)",
}

_FAMILIES = frozenset(name.split(":", 1)[0] for name in SCOPES if ":" in name)


def validate_scopes(requested: Iterable[str]) -> list[str]:
    """Return the requested scopes, de-duplicated and sorted.

    Raises: ValidationFailed listing the unknown ones.
    """
    scopes = sorted(set(requested))
    unknown = [s for s in scopes if not _is_known(s)]
    if unknown:
        raise ValidationFailed(
            "Unknown scopes",
            [{"field": "scopes", "message": f"unknown scope {s!r}"} for s in unknown],
        )
    if not scopes:
        raise ValidationFailed(
            "At least one scope is required", [{"field": "scopes", "message": "is empty"}]
        )
    return scopes


def _is_known(scope: str) -> bool:
    if scope in SCOPES or scope == "*":
        return True
    family, _, rest = scope.partition(":")
    return rest == "*" and family in _FAMILIES


def grants(granted: Iterable[str], needed: str) -> bool:
    """True if a set of granted scopes (wildcards included) covers `needed`."""
    family_wildcard = needed.split(":", 1)[0] + ":*"
    return any(scope in (needed, "*", family_wildcard) for scope in granted)


def covers(granted: Iterable[str], requested: Iterable[str]) -> bool:
    """True if every requested scope (wildcards included) is within the granted ones."""
    granted = list(granted)
    for scope in requested:
        if scope == "*":
            if "*" not in granted:
                return False
        elif scope.endswith(":*"):
            family = scope[:-2]
            members = [s for s in SCOPES if s.startswith(f"{family}:")]
            if not ("*" in granted or scope in granted or all(grants(granted, m) for m in members)):
                return False
        elif not grants(granted, scope):
            return False
    return True
