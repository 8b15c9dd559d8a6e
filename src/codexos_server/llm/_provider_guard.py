"""SSRF guard for a workspace's OpenAI-compatible provider: its base URL must lead to a
public address unless an administrator allow-listed the host (`CODEXOS_HTTP_ALLOWED_HOSTS`).

The address rules are `codexos_server.netguard`'s (`SafeHttpClient.check_url`), with one
difference: any port is allowed, because model servers live on odd ports (vLLM 8000,
Ollama 11434) and the risk being guarded is the address, not the port.

Checking the URL once is not enough: the `openai` client would resolve the name again when
it connects (DNS rebinding), follow redirects, and honour proxy variables. So the client is
given `PinnedTransport`, which checks every request (each redirect hop included) and
connects to the very address it checked, keeping the hostname for the Host header and for
TLS (SNI and certificate). One adapter talks to one host, so its connection pool never
mixes hostnames on a pinned address.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx2
from openai import DefaultAsyncHttpxClient

from codexos_server.llm.port import ModelUnavailable
from codexos_server.netguard import Destination, FetchError, FetchPolicy, SafeHttpClient

ANY_PORT = frozenset(range(1, 65536))


def provider_guard(allowed_hosts: Iterable[str]) -> SafeHttpClient:
    """netguard's checks with the server's allow-list, on any port."""
    return SafeHttpClient(
        FetchPolicy(allowed_hosts=frozenset(allowed_hosts), allowed_ports=ANY_PORT)
    )


async def check_base_url(guard: SafeHttpClient, url: str) -> Destination:
    """Raises: ModelUnavailable if the URL leads to a non-public address."""
    try:
        return await guard.check_url(url)
    except FetchError as exc:
        raise ModelUnavailable(
            f"The provider's URL is not allowed: {exc}. An administrator can allow "
            "its host with CODEXOS_HTTP_ALLOWED_HOSTS",
            {"url": url},
        ) from exc


def refusal_behind(exc: BaseException) -> ModelUnavailable | None:
    """The guard's refusal if a client error wraps one (today's client re-raises it as is)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ModelUnavailable):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


class PinnedTransport(httpx2.AsyncBaseTransport):
    """Sends each request to the address the guard approved for it, never re-resolving.

    A refusal raises ModelUnavailable, which the `openai` client neither retries nor wraps.
    """

    def __init__(self, guard: SafeHttpClient) -> None:
        self._guard = guard
        self._inner = httpx2.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        dest = await check_base_url(self._guard, str(request.url))
        host_header = request.headers.get("host") or request.url.netloc.decode("ascii")
        last: httpx2.ConnectError | None = None
        for address in dest.addresses:
            request.url = request.url.copy_with(host=str(address))
            request.headers["host"] = host_header
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": dest.host}
            try:
                return await self._inner.handle_async_request(request)
            except httpx2.ConnectError as exc:  # try the next approved address
                last = exc
        assert last is not None
        raise last

    async def aclose(self) -> None:
        await self._inner.aclose()


def guarded_http_client(guard: SafeHttpClient) -> httpx2.AsyncClient:
    """An http client for `AsyncOpenAI` with the SDK's defaults, pinned and proxy-free."""
    return DefaultAsyncHttpxClient(transport=PinnedTransport(guard), trust_env=False)
