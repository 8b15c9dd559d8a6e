"""The resources, written once as async; `_sync_resources` is generated from them
(`python sdks/python/scripts/unasync.py`)."""

from codexos._async_resources.agents import AsyncAgents, AsyncConversations, AsyncRuns
from codexos._async_resources.identity import AsyncApiKeys, AsyncAuth, AsyncUsers, AsyncWorkspaces
from codexos._async_resources.knowledge import AsyncKnowledgeBases
from codexos._async_resources.marketplace import AsyncMarketplace
from codexos._async_resources.models import AsyncModels, AsyncProviders, AsyncTools
from codexos._async_resources.operations import (
    AsyncBilling,
    AsyncJobs,
    AsyncMonitoring,
    AsyncOAuthApps,
)
from codexos._async_resources.workflows import AsyncWorkflows

__all__ = [
    "AsyncAgents",
    "AsyncApiKeys",
    "AsyncAuth",
    "AsyncBilling",
    "AsyncConversations",
    "AsyncJobs",
    "AsyncKnowledgeBases",
    "AsyncMarketplace",
    "AsyncModels",
    "AsyncMonitoring",
    "AsyncOAuthApps",
    "AsyncProviders",
    "AsyncRuns",
    "AsyncTools",
    "AsyncUsers",
    "AsyncWorkflows",
    "AsyncWorkspaces",
]
