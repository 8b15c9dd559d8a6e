"""Packages: what a listing version carries, and how installing one creates resources.

A package is a JSON snapshot of an agent or a workflow and everything it refers to in its
workspace, with references rewritten to package-local names (`@agent:a1`, `@kb:kb1`):

    {"format": "codexos.package/v1", "kind": "agent" | "workflow",
     "agent": {...} | "workflow": {...}, "agents": {"a1": {...}},
     "knowledge_bases": {"kb1": {...settings, no documents}},
     "custom_tools": {"name": {...definition, header names only}},
     "requirements": {...what installing it needs}}

Never in a package: provider API keys (provider configs are referred to by name and
kind), custom tool header values, outbound webhooks and their secrets, anything under a
key that names a secret (`api_key`, `token`, `password`, `authorization`, ...), strings that
look like credentials, and documents of knowledge bases (they become empty placeholders).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.agents.models import Agent, AgentVersion, ToolDefinition
from codexos_server.agents.service import SNAPSHOT_FIELDS, snapshot_of
from codexos_server.agents.tools.base import TOOLS
from codexos_server.llm.models import ProviderConfig
from codexos_server.llm.schemas import BUILTIN_PROVIDERS
from codexos_server.rag.models import KnowledgeBase
from codexos_server.workflows.models import Workflow, WorkflowVersion

FORMAT = "codexos.package/v1"
SECRET_KEY = re.compile(
    r"api[_-]?key|secret|token|passw|authorization|credential|private[_-]?key|access[_-]?key"
    r"|cookie|signature",
    re.IGNORECASE,
)
SECRET_VALUE = re.compile(r"^(sk-|cxo_|bearer\s|basic\s|ghp_|xox[abp]-)", re.IGNORECASE)
AGENT_REF, KB_REF = "@agent:", "@kb:"


def scrub(value: Any, path: str, removed: list[str]) -> Any:
    """`value` without secrets; the paths of what was removed are appended to `removed`."""
    if isinstance(value, dict):
        kept: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if SECRET_KEY.search(str(key)):
                removed.append(where)
                continue
            kept[key] = scrub(item, where, removed)
        return kept
    if isinstance(value, list):
        return [scrub(item, f"{path}[{i}]", removed) for i, item in enumerate(value)]
    if isinstance(value, str) and SECRET_VALUE.match(value.strip()):
        removed.append(path)
        return ""
    return value


class _Builder:
    """Collects one package's agents, knowledge bases and tools from a workspace."""

    def __init__(self, session: AsyncSession, workspace_id: str) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.agents: dict[str, dict[str, Any]] = {}
        self.agent_refs: dict[str, str] = {}  # agent id -> package ref
        self.kbs: dict[str, dict[str, Any]] = {}
        self.kb_refs: dict[str, str] = {}
        self.tools: dict[str, dict[str, Any]] = {}
        self.providers: dict[str, dict[str, Any]] = {}
        self.builtin_tools: set[str] = set()
        self.removed: list[str] = []

    async def kb_ref(self, kb_id: str) -> str:
        if kb_id in self.kb_refs:
            return KB_REF + self.kb_refs[kb_id]
        kb = await self.session.scalar(
            select(KnowledgeBase).where(
                KnowledgeBase.id == kb_id, KnowledgeBase.workspace_id == self.workspace_id
            )
        )
        ref = f"kb{len(self.kb_refs) + 1}"
        self.kb_refs[kb_id] = ref
        self.kbs[ref] = (
            {
                "name": kb.name,
                "description": kb.description,
                "embedding_provider": kb.embedding_provider,
                "embedding_model": kb.embedding_model,
                "embedding_dimensions": kb.embedding_dimensions,
                "chunking": kb.chunking,
                "retrieval": kb.retrieval,
            }
            if kb is not None
            else {"name": f"Knowledge base {ref}", "description": None, "missing": True}
        )
        return KB_REF + ref

    async def tool(self, name: str) -> None:
        if name in TOOLS:
            self.builtin_tools.add(name)
            return
        if name in self.tools:
            return
        row = await self.session.scalar(
            select(ToolDefinition).where(
                ToolDefinition.workspace_id == self.workspace_id, ToolDefinition.name == name
            )
        )
        if row is None:
            return
        # Header values (API keys) never leave; the installer is told to bring their own.
        self.tools[name] = {
            "name": row.name,
            "description": row.description,
            "parameters": row.parameters,
            "method": row.method,
            "url_template": scrub(row.url_template, f"tool:{name}.url_template", self.removed),
            "needs_headers": bool(row.headers_encrypted),
        }

    async def provider(self, model: dict[str, Any]) -> None:
        name = model.get("provider")
        if not name or name in BUILTIN_PROVIDERS or name in self.providers:
            return
        row = await self.session.scalar(
            select(ProviderConfig).where(
                ProviderConfig.workspace_id == self.workspace_id, ProviderConfig.name == name
            )
        )
        self.providers[name] = {
            "name": name,
            "kind": row.kind if row is not None else None,
            "model": model.get("model") or (row.default_model if row is not None else None),
        }

    async def agent(self, agent: Agent) -> dict[str, Any]:
        """The agent's definition with secrets scrubbed and references made package-local."""
        snap = snapshot_of(agent)
        where = f"agent:{agent.name}"
        model = scrub(dict(snap.get("model") or {}), f"{where}.model", self.removed)
        await self.provider(model)
        tools = []
        for ref in snap.get("tools") or []:
            await self.tool(ref["name"])
            config = scrub(ref.get("config") or {}, f"{where}.tools.{ref['name']}", self.removed)
            tools.append({"name": ref["name"], "config": config})
        kbs = [await self.kb_ref(kb_id) for kb_id in snap.get("knowledge_base_ids") or []]
        variables = scrub(dict(snap.get("variables") or {}), f"{where}.variables", self.removed)
        definition = {k: v for k, v in snap.items() if k not in ("knowledge_base_ids",)}
        definition.update(model=model, tools=tools, variables=variables, knowledge_bases=kbs)
        return definition

    async def agent_ref(self, agent_id: str) -> str:
        if agent_id not in self.agent_refs:
            ref = f"a{len(self.agent_refs) + 1}"
            self.agent_refs[agent_id] = ref
            row = await self.session.scalar(
                select(Agent).where(Agent.id == agent_id, Agent.workspace_id == self.workspace_id)
            )
            self.agents[ref] = (
                await self.agent(row) if row is not None else {"name": ref, "missing": True}
            )
        return AGENT_REF + self.agent_refs[agent_id]

    async def spec(self, value: Any, path: str) -> Any:
        """A workflow spec (or part of one) with agent and knowledge base ids as refs."""
        if isinstance(value, list):
            return [await self.spec(item, f"{path}[{i}]") for i, item in enumerate(value)]
        if not isinstance(value, dict):
            return value
        result = {k: await self.spec(v, f"{path}.{k}") for k, v in value.items()}
        config = result.get("config")
        if isinstance(config, dict) and isinstance(result.get("type"), str):
            node = f"node:{result.get('id')}"
            config = scrub(config, f"{node}.config", self.removed)
            if result["type"] == "agent" and isinstance(config.get("agent_id"), str):
                config["agent_id"] = await self.agent_ref(config["agent_id"])
            if result["type"] == "knowledge_retrieval" and isinstance(
                config.get("knowledge_base_id"), str
            ):
                config["knowledge_base_id"] = await self.kb_ref(config["knowledge_base_id"])
            if result["type"] == "tool" and isinstance(config.get("tool"), str):
                await self.tool(config["tool"])
            if result["type"] == "llm" and isinstance(config.get("model"), dict):
                await self.provider(config["model"])
            result["config"] = config
        return result

    def finish(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        requirements = {
            "builtin_tools": sorted(self.builtin_tools),
            "custom_tools": sorted(self.tools),
            "providers": sorted(self.providers.values(), key=lambda p: p["name"]),
            "knowledge_bases": [
                {"ref": ref, "name": kb["name"]} for ref, kb in sorted(self.kbs.items())
            ],
            "agents": len(self.agents) + (1 if kind == "agent" else 0),
            "removed_secrets": sorted(set(self.removed)),
        }
        return {
            "format": FORMAT,
            "kind": kind,
            kind: body,
            "agents": self.agents,
            "knowledge_bases": self.kbs,
            "custom_tools": self.tools,
            "requirements": requirements,
        }


async def build_package(
    session: AsyncSession, workspace_id: str, resource_type: str, resource_id: str
) -> dict[str, Any] | None:
    """The package of an agent or workflow of the workspace; None if there is no such one."""
    builder = _Builder(session, workspace_id)
    if resource_type == "agent":
        agent = await session.scalar(
            select(Agent).where(Agent.id == resource_id, Agent.workspace_id == workspace_id)
        )
        if agent is None:
            return None
        return builder.finish("agent", await builder.agent(agent))
    workflow = await session.scalar(
        select(Workflow).where(Workflow.id == resource_id, Workflow.workspace_id == workspace_id)
    )
    if workflow is None:
        return None
    spec = await builder.spec(copy.deepcopy(workflow.spec), "spec")
    return builder.finish(
        "workflow", {"name": workflow.name, "description": workflow.description, "spec": spec}
    )


@dataclass
class Created:
    resource_type: str
    resource_id: str
    resources: dict[str, Any] = field(default_factory=dict)
    setup_required: list[str] = field(default_factory=list)


def agent_values(definition: dict[str, Any], kb_ids: dict[str, str]) -> dict[str, Any]:
    """An agent's column values from a package definition (refs resolved by `kb_ids`)."""
    values = {k: copy.deepcopy(definition[k]) for k in SNAPSHOT_FIELDS if k in definition}
    values["knowledge_base_ids"] = [
        kb_ids[ref.removeprefix(KB_REF)]
        for ref in definition.get("knowledge_bases") or []
        if ref.removeprefix(KB_REF) in kb_ids
    ]
    return values


class Installer:
    """Creates a package's resources in a workspace, inside the caller's transaction."""

    def __init__(
        self, session: AsyncSession, workspace_id: str, user_id: str, listing_id: str, version: int
    ) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.user_id = user_id
        self.listing_id = listing_id
        self.version = version

    async def _providers(self, package: dict[str, Any], notes: list[str]) -> set[str]:
        """Names of the package's providers this workspace lacks (their agents fall back to
        the server's default model)."""
        names = {p["name"] for p in package.get("requirements", {}).get("providers", [])}
        have = set(
            (
                await self.session.scalars(
                    select(ProviderConfig.name).where(
                        ProviderConfig.workspace_id == self.workspace_id,
                        ProviderConfig.name.in_(names),
                    )
                )
            ).all()
        )
        for name in sorted(names - have):
            notes.append(
                f"provider {name!r}: add a provider config with this name (with your own "
                "API key) and set it on the agent; until then it uses the server's default"
            )
        return names - have

    async def _tools(self, package: dict[str, Any], created: Created) -> None:
        made: dict[str, str] = {}
        for name, spec in (package.get("custom_tools") or {}).items():
            existing = await self.session.scalar(
                select(ToolDefinition.id).where(
                    ToolDefinition.workspace_id == self.workspace_id, ToolDefinition.name == name
                )
            )
            if existing is not None:
                created.setup_required.append(f"tool {name!r}: your existing tool is used")
                continue
            row = ToolDefinition(
                workspace_id=self.workspace_id,
                created_by=self.user_id,
                name=name,
                description=spec.get("description", ""),
                parameters=spec.get("parameters") or {"type": "object", "properties": {}},
                method=spec.get("method", "GET"),
                url_template=spec.get("url_template", ""),
                headers_encrypted=None,
            )
            self.session.add(row)
            await self.session.flush()
            made[name] = row.id
            if spec.get("needs_headers"):
                created.setup_required.append(
                    f"tool {name!r}: it sent secret headers (API keys) that are not shared; "
                    "re-create it with your own"
                )
        if made:
            created.resources["tools"] = made

    async def knowledge_bases(self, package: dict[str, Any], created: Created) -> dict[str, str]:
        ids: dict[str, str] = {}
        for ref, spec in (package.get("knowledge_bases") or {}).items():
            if spec.get("missing"):
                continue
            kb = KnowledgeBase(
                workspace_id=self.workspace_id,
                created_by=self.user_id,
                name=spec["name"],
                description=spec.get("description"),
                embedding_provider=spec["embedding_provider"],
                embedding_model=spec["embedding_model"],
                embedding_dimensions=spec["embedding_dimensions"],
                chunking=spec["chunking"],
                retrieval=spec["retrieval"],
            )
            self.session.add(kb)
            await self.session.flush()
            ids[ref] = kb.id
            created.setup_required.append(
                f"knowledge base {spec['name']!r} ({kb.id}) is empty: upload your documents"
            )
        if ids:
            created.resources["knowledge_bases"] = ids
        return ids

    async def new_agent(
        self, definition: dict[str, Any], kb_ids: dict[str, str], missing: set[str]
    ) -> Agent:
        values = agent_values(definition, kb_ids)
        if (values.get("model") or {}).get("provider") in missing:
            values["model"] = {**values["model"], "provider": None}
        agent = Agent(
            workspace_id=self.workspace_id,
            created_by=self.user_id,
            version=1,
            source_listing_id=self.listing_id,
            source_listing_version=self.version,
            **values,
        )
        self.session.add(agent)
        await self.session.flush()
        self.session.add(AgentVersion(agent_id=agent.id, version=1, snapshot=snapshot_of(agent)))
        return agent

    async def install(self, package: dict[str, Any], name: str | None) -> Created:
        """Create the package's knowledge bases, tools, agents and its agent or workflow."""
        kind = package["kind"]
        created = Created(kind, "")
        missing = await self._providers(package, created.setup_required)
        await self._tools(package, created)
        kb_ids = await self.knowledge_bases(package, created)
        agent_ids: dict[str, str] = {}
        for ref, definition in (package.get("agents") or {}).items():
            if not definition.get("missing"):
                agent_ids[ref] = (await self.new_agent(definition, kb_ids, missing)).id
        if agent_ids:
            created.resources["agents"] = agent_ids
        if kind == "agent":
            definition = dict(package["agent"])
            if name:
                definition["name"] = name
            created.resource_id = (await self.new_agent(definition, kb_ids, missing)).id
            return created
        body = package["workflow"]
        spec = resolve_refs(body["spec"], agent_ids, kb_ids)
        workflow = Workflow(
            workspace_id=self.workspace_id,
            created_by=self.user_id,
            name=name or body["name"],
            description=body.get("description"),
            spec=spec,
            version=1,
            webhooks=[],
            source_listing_id=self.listing_id,
            source_listing_version=self.version,
        )
        self.session.add(workflow)
        await self.session.flush()
        self.session.add(
            WorkflowVersion(workflow_id=workflow.id, version=1, name=workflow.name, spec=spec)
        )
        created.resource_id = workflow.id
        return created


def resolve_refs(value: Any, agent_ids: dict[str, str], kb_ids: dict[str, str]) -> Any:
    """A package spec with `@agent:`/`@kb:` refs replaced by the installed resources' ids."""
    if isinstance(value, list):
        return [resolve_refs(item, agent_ids, kb_ids) for item in value]
    if isinstance(value, dict):
        return {k: resolve_refs(v, agent_ids, kb_ids) for k, v in value.items()}
    if isinstance(value, str):
        if value.startswith(AGENT_REF):
            return agent_ids.get(value.removeprefix(AGENT_REF), value)
        if value.startswith(KB_REF):
            return kb_ids.get(value.removeprefix(KB_REF), value)
    return value
