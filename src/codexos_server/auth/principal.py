"""The principal: who is calling, in which workspace, with which role and scopes.

Every service method takes it as its first argument; nothing reads a hidden current user.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from codexos_server.auth.scopes import grants
from codexos_server.errors import AuthorizationFailed
from codexos_server.workspaces.permissions import Action, WorkspaceRole, ensure_allowed, role_can


class AuthMethod(StrEnum):
    SESSION = "session"
    API_KEY = "api_key"
    OAUTH = "oauth"  # an access token issued to a third-party app


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    email: str
    user_role: str
    tier: str
    rate_limit_per_hour: int | None
    workspace_id: str
    workspace_role: WorkspaceRole
    method: AuthMethod
    scopes: frozenset[str] | None = None  # None: every scope (an interactive session)
    session_id: str | None = None
    api_key_id: str | None = None
    oauth_client_id: str | None = None  # the app acting, for OAuth access tokens

    @property
    def is_admin(self) -> bool:
        return self.user_role == "admin"

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or grants(self.scopes, scope)

    def can(self, action: Action) -> bool:
        return role_can(self.workspace_role, action)

    def require(self, action: Action) -> None:
        """Raises: AuthorizationFailed if the workspace role does not allow the action."""
        ensure_allowed(self.workspace_role, action, self.workspace_id)

    def require_admin(self) -> None:
        """Raises: AuthorizationFailed unless the user is a server admin."""
        if not self.is_admin:
            raise AuthorizationFailed("This operation requires the admin role")
