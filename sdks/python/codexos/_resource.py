"""The base of every resource: a handle on the client that sends its requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codexos._client import AsyncCodexOS, CodexOS


class AsyncResource:
    def __init__(self, client: AsyncCodexOS) -> None:
        self._client = client


class Resource:
    def __init__(self, client: CodexOS) -> None:
        self._client = client
