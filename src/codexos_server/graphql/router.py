"""`/api/v1/graphql`: POST for queries and mutations; GET serves GraphiQL (and queries) only
in development; WebSocket subscriptions over `graphql-transport-ws` only.

HTTP requests are authenticated by the same middleware as REST (bearer token or API key,
`X-Workspace-ID`). A WebSocket authenticates in its `connection_init` payload:
`{"Authorization": "Bearer <token>", "X-Workspace-ID": "<optional>"}` or `{"token": …}`;
a missing or invalid credential closes the connection with 4403.
"""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from fastapi import Request, WebSocket
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from codexos_server.container import Container, get_container
from codexos_server.errors import AppError, MethodNotAllowed
from codexos_server.graphql.context import GraphQLContext
from codexos_server.graphql.schema import build_schema

PATH = "/graphql"


async def _context(connection: HTTPConnection) -> GraphQLContext:
    state = connection.scope.get("state") or {}
    return GraphQLContext(
        get_container(connection), state.get("principal"), state.get("auth_error")
    )


def _credentials(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    headers = {str(k).lower(): v for k, v in payload.items()}
    token = headers.get("token")
    authorization = headers.get("authorization")
    if isinstance(authorization, str):
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            token = credential.strip()
    workspace = headers.get("x-workspace-id") or headers.get("workspace_id")
    return (
        token if isinstance(token, str) and token else None,
        workspace if isinstance(workspace, str) and workspace else None,
    )


class GraphQLEndpoint(GraphQLRouter[GraphQLContext, None]):
    def __init__(self, container: Container) -> None:
        development = container.settings.environment == "development"
        super().__init__(
            build_schema(container.settings),
            path=PATH,
            graphql_ide="graphiql" if development else None,
            allow_queries_via_get=development,
            context_getter=_context,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            include_in_schema=False,
        )
        self.development = development
        self.authenticator = container.authenticator

    async def run(  # type: ignore[override]
        self,
        request: Request | WebSocket,
        context: GraphQLContext | UnsetType = UNSET,
        root_value: UnsetType | None = UNSET,
    ) -> Response | WebSocket:
        """Strawberry answers transport problems (a body that is not JSON, no query, a
        mutation over GET) with plain text: answer them as GraphQL errors instead."""
        if isinstance(request, WebSocket):
            return await super().run(request, context, root_value)  # type: ignore[arg-type]
        if request.method == "GET" and not self.development:
            raise MethodNotAllowed("GraphQL takes POST requests here (GET only in development)")
        try:
            return await super().run(request, context, root_value)  # type: ignore[arg-type]
        except HTTPException as exc:
            code = "METHOD_NOT_ALLOWED" if exc.status_code == 405 else "VALIDATION_ERROR"
            return JSONResponse(
                {
                    "errors": [
                        {"message": exc.reason, "extensions": {"code": code, "details": None}}
                    ]
                },
                status_code=exc.status_code,
            )

    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        """Authenticate the connection from its `connection_init` payload."""
        token, workspace_id = _credentials(dict(context.connection_params or {}))
        if token is None:
            raise ConnectionRejectionError({"code": "AUTHENTICATION_FAILED"})
        try:
            context.principal = await self.authenticator.authenticate(token, workspace_id)
        except AppError as exc:
            raise ConnectionRejectionError({"code": exc.code, "message": exc.message}) from exc
        return {"workspace_id": context.principal.workspace_id}
