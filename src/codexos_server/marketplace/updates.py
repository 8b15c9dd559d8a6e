"""Updating an install to another version: a three-way merge per setting.

For each setting of the installed agent or workflow, `base` is its value in the installed
version's package, `theirs` its value in the target version, `ours` its current value:

    ours == base            -> the workspace never changed it: take theirs
    ours == theirs          -> nothing to do
    otherwise               -> the workspace changed it: keep ours, and report it in `kept`

Dict settings (`model`, `memory`, `variables`) merge key by key, so changing one variable
keeps that variable and still takes the new version's other changes. Agents a workflow's
new version adds are created; knowledge bases it adds become new empty placeholders.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.agents.models import Agent, AgentVersion
from codexos_server.agents.service import snapshot_of
from codexos_server.marketplace.models import Install
from codexos_server.marketplace.packages import Created, Installer, agent_values, resolve_refs
from codexos_server.workflows.models import Workflow, WorkflowVersion

_MERGED_BY_KEY = ("model", "memory", "variables")
_MISSING = object()


@dataclass
class Outcome:
    resources: dict[str, Any]
    setup_required: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def merge(base: Any, ours: Any, theirs: Any, path: str, kept: list[str]) -> Any:
    """The three-way merge of one setting (see the module docstring)."""
    if ours == base:
        return theirs if theirs is _MISSING else copy.deepcopy(theirs)
    if ours == theirs:
        return ours
    kept.append(path)
    return ours


def merge_by_key(
    base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any], path: str, kept: list[str]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key in sorted(set(base) | set(ours) | set(theirs)):
        b, o, t = base.get(key, _MISSING), ours.get(key, _MISSING), theirs.get(key, _MISSING)
        value = merge(b, o, t, f"{path}.{key}", kept)
        if value is not _MISSING:
            result[key] = value
    return result


async def _merge_agent(
    session: AsyncSession,
    agent: Agent,
    base: dict[str, Any],
    theirs: dict[str, Any],
    version: int,
    kept: list[str],
    prefix: str,
) -> None:
    ours = snapshot_of(agent)
    changed = False
    for name, their_value in theirs.items():
        base_value = base.get(name, their_value)
        if name in _MERGED_BY_KEY:
            value: Any = merge_by_key(
                base_value or {}, ours.get(name) or {}, their_value or {}, prefix + name, kept
            )
        else:
            value = merge(base_value, ours.get(name), their_value, prefix + name, kept)
        if value != ours.get(name):
            setattr(agent, name, value)
            changed = True
    if agent.source_listing_version != version:
        agent.source_listing_version = version
    if changed:
        agent.version += 1
        session.add(
            AgentVersion(agent_id=agent.id, version=agent.version, snapshot=snapshot_of(agent))
        )


async def update_resource(
    installer: Installer, install: Install, base: dict[str, Any], target: dict[str, Any]
) -> Outcome:
    """Apply `target` over the install's resources, merged with the workspace's changes."""
    session = installer.session
    resources = copy.deepcopy(dict(install.created_resources or {}))
    outcome = Outcome(resources)
    kb_ids: dict[str, str] = dict(resources.get("knowledge_bases") or {})
    new_kbs = {
        ref: spec
        for ref, spec in (target.get("knowledge_bases") or {}).items()
        if ref not in kb_ids
    }
    if new_kbs:
        extra = Created(install.resource_type, install.resource_id)
        kb_ids.update(await installer.knowledge_bases({"knowledge_bases": new_kbs}, extra))
        outcome.setup_required.extend(extra.setup_required)
        resources["knowledge_bases"] = kb_ids
    agent_ids: dict[str, str] = dict(resources.get("agents") or {})
    for ref, definition in (target.get("agents") or {}).items():
        if definition.get("missing"):
            continue
        existing = await session.get(Agent, agent_ids[ref]) if ref in agent_ids else None
        if existing is None or existing.workspace_id != install.workspace_id:
            agent_ids[ref] = (await installer.new_agent(definition, kb_ids, set())).id
            continue
        base_definition = (base.get("agents") or {}).get(ref) or definition
        await _merge_agent(
            session,
            existing,
            agent_values(base_definition, kb_ids),
            agent_values(definition, kb_ids),
            installer.version,
            outcome.kept,
            f"agents.{ref}.",
        )
    if agent_ids:
        resources["agents"] = agent_ids
    if install.resource_type == "agent":
        agent = await session.get_one(Agent, install.resource_id)
        theirs = agent_values(target["agent"], kb_ids)
        theirs.pop("name", None)  # the name is the workspace's: it may have renamed it
        base_values = agent_values(base["agent"], kb_ids)
        await _merge_agent(session, agent, base_values, theirs, installer.version, outcome.kept, "")
        return outcome
    workflow = await session.get_one(Workflow, install.resource_id)
    base_spec = resolve_refs(base["workflow"]["spec"], agent_ids, kb_ids)
    their_spec = resolve_refs(target["workflow"]["spec"], agent_ids, kb_ids)
    spec = merge(base_spec, workflow.spec, their_spec, "spec", outcome.kept)
    description = merge(
        base["workflow"].get("description"),
        workflow.description,
        target["workflow"].get("description"),
        "description",
        outcome.kept,
    )
    workflow.description = description
    workflow.source_listing_version = installer.version
    if spec != workflow.spec:
        workflow.spec = spec
        workflow.version += 1
        session.add(
            WorkflowVersion(
                workflow_id=workflow.id, version=workflow.version, name=workflow.name, spec=spec
            )
        )
    return outcome
