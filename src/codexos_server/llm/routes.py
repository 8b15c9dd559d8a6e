"""Provider configs and the list of usable models."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from codexos_server.auth.deps import scoped
from codexos_server.auth.principal import Principal
from codexos_server.container import get_container
from codexos_server.llm.providers import ProviderService
from codexos_server.llm.schemas import ModelInfo, ProviderCreate, ProviderOut, ProviderUpdate
from codexos_server.openapi import errors
from codexos_server.pagination import Page, PageParamsDep

router = APIRouter(tags=["models"])


async def _providers(request: Request) -> ProviderService:
    return get_container(request).providers


ProviderServiceDep = Annotated[ProviderService, Depends(_providers)]
Reader = Annotated[Principal, scoped("agents:read")]
Admin = Annotated[Principal, scoped("workspaces:write")]


@router.get("/models", operation_id="models_list", summary="List the models agents can use")
async def list_models(providers: ProviderServiceDep, principal: Reader) -> list[ModelInfo]:
    return await providers.list_models(principal)


@router.post(
    "/providers",
    status_code=status.HTTP_201_CREATED,
    operation_id="providers_create",
    summary="Add an OpenAI-compatible provider (workspace admin)",
    responses=errors(403, 409),
)
async def create_provider(
    body: ProviderCreate, providers: ProviderServiceDep, principal: Admin
) -> ProviderOut:
    """The API key is stored encrypted and never returned (only its last four characters)."""
    return await providers.create(principal, body)


@router.get("/providers", operation_id="providers_list", summary="List provider configs")
async def list_providers(
    providers: ProviderServiceDep, page: PageParamsDep, principal: Reader
) -> Page[ProviderOut]:
    return await providers.list(principal, page)


@router.get(
    "/providers/{provider_id}",
    operation_id="providers_get",
    summary="Get a provider config",
    responses=errors(404),
)
async def get_provider(
    provider_id: str, providers: ProviderServiceDep, principal: Reader
) -> ProviderOut:
    return await providers.get(principal, provider_id)


@router.patch(
    "/providers/{provider_id}",
    operation_id="providers_update",
    summary="Update a provider config",
    responses=errors(403, 404),
)
async def update_provider(
    provider_id: str, body: ProviderUpdate, providers: ProviderServiceDep, principal: Admin
) -> ProviderOut:
    return await providers.update(principal, provider_id, body)


@router.delete(
    "/providers/{provider_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="providers_delete",
    summary="Delete a provider config",
    responses=errors(403, 404),
)
async def delete_provider(
    provider_id: str, providers: ProviderServiceDep, principal: Admin
) -> None:
    await providers.delete(principal, provider_id)
