"""GraphQL errors carry the REST envelope's codes: `extensions: {code, details}`.

- an AppError raised by a service → its own code and details (RESOURCE_NOT_FOUND, …);
- a syntax, validation or variable error → VALIDATION_ERROR (or the code a rule set, e.g.
  QUERY_TOO_COMPLEX);
- anything else → INTERNAL_ERROR with a generic message: the exception goes to the log
  (with the request id), never to the client.
"""

from __future__ import annotations

import json
from typing import Any

from graphql import GraphQLError

from codexos_server.errors import AppError
from codexos_server.log import get_logger

log = get_logger("codexos.graphql")

INTERNAL_MESSAGE = "An internal error occurred; quote the request id when reporting it"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _root_cause(error: GraphQLError) -> BaseException | None:
    original: BaseException | None = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def classify(error: GraphQLError) -> None:
    """Give the error its `code` and `details` (in place: strawberry formats it later)."""
    extensions = dict(error.extensions or {})
    if extensions.get("code") and "details" in extensions:
        return  # already classified (the same error can pass here twice)
    cause = _root_cause(error)
    details: Any = extensions.get("details")
    if isinstance(cause, AppError):
        code, details = cause.code, _jsonable(cause.details)
        error.message = cause.message
    elif cause is None or isinstance(cause, GraphQLError):
        code = str(extensions.get("code") or "VALIDATION_ERROR")
    else:
        log.error(
            "graphql resolver error",
            path=list(error.path or ()),
            exc_info=(type(cause), cause, cause.__traceback__),
        )
        code, details = "INTERNAL_ERROR", None
        error.message = INTERNAL_MESSAGE
        error.original_error = None
    error.extensions = {**extensions, "code": code, "details": details}
