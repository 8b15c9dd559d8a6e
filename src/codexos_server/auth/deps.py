"""FastAPI dependencies: the principal a route requires, checked for one scope."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from codexos_server.auth.principal import Principal
from codexos_server.errors import AppError, AuthenticationFailed, AuthorizationFailed

# Declares the bearer scheme in OpenAPI (Swagger's "Authorize"); the middleware does the work.
_bearer = HTTPBearer(auto_error=False, description="A JWT access token or an API key (cxo_…)")


async def optional_principal(request: Request) -> Principal | None:
    """The caller if a credential was sent and valid, else None (for public routes)."""
    principal: Principal | None = request.state.principal
    return principal


async def current_principal(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> Principal:
    """Raises: the authentication error the middleware recorded, or AuthenticationFailed."""
    error: AppError | None = getattr(request.state, "auth_error", None)
    if error is not None:
        raise error
    principal: Principal | None = request.state.principal
    if principal is None:
        raise AuthenticationFailed(
            "Authentication required: send 'Authorization: Bearer <token or API key>'"
        )
    return principal


def scoped(scope: str) -> Any:
    """A dependency yielding the principal if its credential holds `scope`."""

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.has_scope(scope):
            raise AuthorizationFailed(
                f"This credential lacks the '{scope}' scope", {"required_scope": scope}
            )
        return principal

    return Depends(dependency)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
