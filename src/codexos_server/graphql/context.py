"""The per-request (or per-WebSocket-connection) GraphQL context: the container, the
caller and the request's DataLoaders."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import strawberry
from strawberry.fastapi import BaseContext

from codexos_server.auth.principal import Principal
from codexos_server.container import Container
from codexos_server.errors import AppError, AuthenticationFailed, AuthorizationFailed
from codexos_server.graphql.loaders import Loaders


class GraphQLContext(BaseContext):
    """HTTP: the principal comes from the authentication middleware, exactly as for REST.
    WebSocket: it is set by the router from the `connection_init` payload."""

    def __init__(
        self,
        container: Container,
        principal: Principal | None,
        auth_error: AppError | None = None,
    ) -> None:
        super().__init__()
        self.container = container
        self.principal = principal
        self.auth_error = auth_error

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self.container.db, self.require_any())

    def require_any(self) -> Principal:
        """The authenticated caller. Raises: AuthenticationFailed (or the recorded error of
        an invalid credential)."""
        if self.auth_error is not None:
            raise self.auth_error
        if self.principal is None:
            raise AuthenticationFailed(
                "Authentication required: send 'Authorization: Bearer <token or API key>'"
            )
        return self.principal

    def require(self, scope: str) -> Principal:
        """The caller, if its credential holds `scope` (the same check as REST's `scoped`).

        Raises: AuthenticationFailed, AuthorizationFailed."""
        principal = self.require_any()
        if not principal.has_scope(scope):
            raise AuthorizationFailed(
                f"This credential lacks the '{scope}' scope", {"required_scope": scope}
            )
        return principal


Info = strawberry.Info[GraphQLContext, Any]
