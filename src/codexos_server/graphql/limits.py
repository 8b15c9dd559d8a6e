"""Operation limits, checked before anything executes: selection depth and cost.

Cost counts every field an operation may resolve: a field inside `agents(first: 50)` counts
50 times, inside `agents(first: 50) { … runs(last: 5) }` 250 times. List sizes come from the
`first`/`last` arguments (literals or variables, else the field's default). Introspection
fields (`__schema`, `__type`, …) are not counted. A refusal is a GraphQL error with
`extensions.code` QUERY_TOO_COMPLEX.

The rule needs the operation's variables, which graphql-core's validation does not see, so
an extension builds it per operation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    VariableNode,
    get_named_type,
)
from graphql.pyutils import Undefined
from strawberry.extensions import SchemaExtension

SIZE_ARGUMENTS = ("first", "last")
DEFAULT_LIST_SIZE = 20
TOO_COMPLEX = "QUERY_TOO_COMPLEX"


class _Measure:
    """Depth and cost of selection sets; a fragment is measured once (depth relative to where
    it is spread, cost per unit of the enclosing list size), so fragment fan-out stays cheap."""

    def __init__(
        self,
        context: ValidationContext,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self.context = context
        self.fragments = {
            d.name.value: d
            for d in context.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = dict(variables)
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and isinstance(definition.default_value, IntValueNode):
                self.variables[name] = int(definition.default_value.value)
        self._fragment_cache: dict[str, tuple[int, int]] = {}
        self._visiting: set[str] = set()

    def selection(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType
    ) -> tuple[int, int]:
        """(depth, cost) of a selection set whose fields sit at depth 1, per unit of the
        enclosing list size."""
        depth = cost = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                d, c = self._field(node, parent)
            elif isinstance(node, InlineFragmentNode):
                target = (
                    self.context.schema.get_type(node.type_condition.name.value)
                    if node.type_condition
                    else parent
                )
                if target is None:
                    continue
                d, c = self.selection(node.selection_set, target)
            elif isinstance(node, FragmentSpreadNode):
                d, c = self._fragment(node.name.value)
            else:  # pragma: no cover - no other selection kinds exist
                continue
            depth, cost = max(depth, d), cost + c
        return depth, cost

    def _field(self, node: FieldNode, parent: GraphQLNamedType) -> tuple[int, int]:
        if node.name.value.startswith("__"):
            return 0, 0
        definition = _field_def(parent, node.name.value)
        if definition is None:  # reported by graphql-core's own rules
            return 1, 1
        if node.selection_set is None:
            return 1, 1
        inner_depth, inner_cost = self.selection(
            node.selection_set, get_named_type(definition.type)
        )
        return 1 + inner_depth, 1 + self._size(node, definition) * inner_cost

    def _fragment(self, name: str) -> tuple[int, int]:
        if name in self._fragment_cache:
            return self._fragment_cache[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self._visiting:  # unknown or a cycle: other rules
            return 0, 0
        target = self.context.schema.get_type(fragment.type_condition.name.value)
        if target is None:
            return 0, 0
        self._visiting.add(name)
        measured = self.selection(fragment.selection_set, target)
        self._visiting.discard(name)
        self._fragment_cache[name] = measured
        return measured

    def _size(self, node: FieldNode, definition: GraphQLField) -> int:
        """The list size a field asks for: its `first`/`last` argument, else 1."""
        for name in SIZE_ARGUMENTS:
            if name not in definition.args:
                continue
            given = next((a.value for a in node.arguments or () if a.name.value == name), None)
            value: Any = None
            if isinstance(given, IntValueNode):
                value = int(given.value)
            elif isinstance(given, VariableNode):
                value = self.variables.get(given.name.value)
            if value is None:
                default = definition.args[name].default_value
                value = default if default is not Undefined else DEFAULT_LIST_SIZE
            return max(1, int(value)) if isinstance(value, int) else DEFAULT_LIST_SIZE
        return 1


def _field_def(parent: GraphQLNamedType, name: str) -> GraphQLField | None:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        field: GraphQLField | None = parent.fields.get(name)
        return field
    return None


def limits_rule(
    max_depth: int, max_cost: int, variables: Mapping[str, Any]
) -> type[ASTValidationRule]:
    """A validation rule refusing operations deeper than `max_depth` or costlier than
    `max_cost`, with the operation's variables bound."""

    class OperationLimits(ASTValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            context = self.context
            if not isinstance(context, ValidationContext):  # pragma: no cover - SDL validation
                return
            root = context.schema.get_root_type(node.operation)
            if root is None:
                return
            depth, cost = _Measure(context, node, variables).selection(node.selection_set, root)
            if depth > max_depth:
                self.report_error(
                    GraphQLError(
                        f"The operation is {depth} levels deep; the limit is {max_depth}",
                        node,
                        extensions={
                            "code": TOO_COMPLEX,
                            "details": {"depth": depth, "max_depth": max_depth},
                        },
                    )
                )
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"The operation may resolve {cost} fields; the limit is {max_cost}",
                        node,
                        extensions={
                            "code": TOO_COMPLEX,
                            "details": {"cost": cost, "max_cost": max_cost},
                        },
                    )
                )

    return OperationLimits


class OperationLimits(SchemaExtension):
    """Adds the depth and cost rule, bound to this operation's variables."""

    def __init__(self, *, max_depth: int, max_cost: int) -> None:
        self.max_depth = max_depth
        self.max_cost = max_cost

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        variables = context.variables if isinstance(context.variables, dict) else {}
        context.validation_rules = (
            *context.validation_rules,
            limits_rule(self.max_depth, self.max_cost, variables),
        )
        yield
