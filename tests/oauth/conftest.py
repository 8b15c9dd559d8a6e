"""The user's browser: a second HTTP client on the same app, with its own cookie jar."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def browser(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=client._transport, base_url=str(client.base_url)
    ) as http:
        yield http
