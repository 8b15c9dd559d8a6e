"""The Strawberry schema, with the limits the settings ask for."""

from __future__ import annotations

from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, MaxTokensLimiter, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from codexos_server.config import Settings
from codexos_server.graphql.errors import classify
from codexos_server.graphql.limits import OperationLimits
from codexos_server.graphql.marketplace import CREDITS_SCALAR, Credits
from codexos_server.graphql.mutations import Mutation
from codexos_server.graphql.queries import Query
from codexos_server.graphql.subscriptions import Subscription

# Bounds the parser's work before any rule runs (a 10 MB body of `{a a a …}`).
MAX_TOKENS = 20_000


class CodexSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Map every error to the REST codes (instead of strawberry's default logging)."""
        for error in errors:
            classify(error)


def build_schema(settings: Settings) -> CodexSchema:
    extensions: list[type[SchemaExtension] | Any] = [
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        partial(
            OperationLimits,
            max_depth=settings.graphql_max_depth,
            max_cost=settings.graphql_max_cost,
        ),
    ]
    if not settings.graphql_introspection:
        extensions.append(DisableIntrospection)
    return CodexSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        # Suggestions ("did you mean …") would reveal the schema introspection hides.
        config=StrawberryConfig(
            disable_field_suggestions=not settings.graphql_introspection,
            scalar_map={Credits: CREDITS_SCALAR},
        ),
    )
