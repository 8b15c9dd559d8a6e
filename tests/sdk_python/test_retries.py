"""Retries, idempotency, token refresh and error mapping, against live servers."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from codexos import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    AuthorizationError,
    CodexOS,
    ConflictError,
    NotFoundError,
    RateLimitError,
    ValidationError,
)

from tests.e2e.conftest import LiveServer, start_server, stop_server
from tests.sdk_python.conftest import PASSWORD, UNLIMITED, SdkAccount, scripted
from tests.sdk_python.proxy import DroppingProxy


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Logins limited to 2 per 3 seconds per IP; access tokens live 1 second."""
    env = {
        **UNLIMITED,
        "CODEXOS_LOGIN_LIMIT_PER_IP": "2 per 3 seconds",
        "CODEXOS_ACCESS_TOKEN_TTL_SECONDS": "1",
    }
    live = start_server(tmp_path_factory.mktemp("strict"), **env)
    yield live
    stop_server(live)


def register(server: LiveServer) -> str:
    email = f"sdk-{uuid.uuid4().hex[:10]}@example.com"
    r = httpx.post(f"{server.api}/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return email


def test_429_is_waited_out_and_retried(strict_server: LiveServer) -> None:
    email = register(strict_server)
    time.sleep(3)  # a fresh login window
    with CodexOS(base_url=strict_server.base_url, max_retries=0) as impatient:
        impatient.auth.login(email, PASSWORD)
        impatient.auth.login(email, PASSWORD)
        with pytest.raises(RateLimitError) as caught:
            impatient.auth.login(email, PASSWORD)
    error = caught.value
    assert error.status_code == 429 and error.code == "RATE_LIMIT_EXCEEDED"
    assert error.retry_after is not None and 1 <= error.retry_after <= 3
    assert error.request_id and error.request_id.startswith("req_")

    with CodexOS(base_url=strict_server.base_url, max_retries=2) as patient:
        started = time.monotonic()
        pair = patient.auth.login(email, PASSWORD)  # 429 first, then the retry succeeds
        assert pair.access_token
        assert time.monotonic() - started >= 0.5


def test_expired_access_token_is_refreshed(strict_server: LiveServer) -> None:
    email = register(strict_server)
    time.sleep(3)
    with CodexOS.login(email, PASSWORD, base_url=strict_server.base_url) as sdk:
        first_refresh = sdk.tokens.refresh_token
        time.sleep(2.1)  # the 1-second access token has expired
        assert sdk.users.me().email == email
        assert sdk.tokens.refresh_token != first_refresh


def test_dropped_execute_is_retried_once_with_the_same_key(
    server: LiveServer, account: SdkAccount
) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    proxy = DroppingProxy(port, b"/execute")
    try:
        with CodexOS(api_key=account.api_key, base_url=server.base_url) as direct:
            agent = direct.agents.create(name="Once", model=scripted("only once"))
            with CodexOS(
                api_key=account.api_key, base_url=f"http://127.0.0.1:{proxy.port}", max_retries=2
            ) as flaky:
                run = flaky.agents.execute(agent.id, "do it")
            assert proxy.dropped == 1
            assert len(proxy.idempotency_keys) == 2
            assert proxy.idempotency_keys[0] == proxy.idempotency_keys[1]
            assert run.output == "only once"
            runs = list(direct.agents.runs(agent.id))
            assert [r.id for r in runs] == [run.id]  # the server ran it once
    finally:
        proxy.close()


def test_a_create_lost_on_the_way_back_is_not_repeated(
    server: LiveServer, account: SdkAccount
) -> None:
    """A POST without an Idempotency-Key may have been applied: the SDK reports the lost
    connection instead of sending it again (no duplicate agent)."""
    port = int(server.base_url.rsplit(":", 1)[1])
    proxy = DroppingProxy(port, b"POST /api/v1/agents HTTP")
    try:
        with (
            CodexOS(
                api_key=account.api_key, base_url=f"http://127.0.0.1:{proxy.port}", max_retries=2
            ) as flaky,
            pytest.raises(APIConnectionError),
        ):
            flaky.agents.create(name="Lost response", model=scripted("x"))
        with CodexOS(api_key=account.api_key, base_url=server.base_url) as direct:
            names = [a.name for a in direct.agents.list()]
        assert names.count("Lost response") == 1
        assert proxy.dropped == 1
    finally:
        proxy.close()


def test_errors_map_to_classes(server: LiveServer, client: CodexOS, account: SdkAccount) -> None:
    stranger = CodexOS(api_key="cxo_not_a_real_key", base_url=server.base_url)
    with stranger, pytest.raises(AuthenticationError) as auth:
        stranger.users.me()
    assert auth.value.status_code == 401 and auth.value.code == "AUTHENTICATION_FAILED"

    key = client.api_keys.create("read only", ["agents:read"]).key
    reader = CodexOS(api_key=key, base_url=server.base_url)
    with reader, pytest.raises(AuthorizationError) as denied:
        reader.agents.create(name="nope")
    assert denied.value.status_code == 403

    with pytest.raises(NotFoundError) as missing:
        client.agents.retrieve("00000000-0000-0000-0000-000000000000")
    with pytest.raises(ValidationError) as invalid:
        client.agents.create(name="")
    with pytest.raises(ConflictError) as conflict:
        client.auth.register(account.email, PASSWORD)
    for caught in (auth, denied, missing, invalid, conflict):
        error = caught.value
        assert error.request_id and error.request_id.startswith("req_"), error
        assert error.message and error.response.headers["x-request-id"] == error.request_id
    assert missing.value.code == "RESOURCE_NOT_FOUND" and invalid.value.details
    assert conflict.value.code == "CONFLICT"


def test_connection_and_timeout_errors() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with CodexOS(api_key="k", base_url=f"http://127.0.0.1:{port}", max_retries=1) as sdk:
        started = time.monotonic()
        with pytest.raises(APIConnectionError):
            sdk.users.me()
        assert time.monotonic() - started >= 0.3  # one backoff before the retry

    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        sdk = CodexOS(api_key="k", base_url=url, timeout=0.3, max_retries=0)
        with sdk, pytest.raises(APITimeoutError):
            sdk.users.me()
    finally:
        silent.close()


def test_base_url_forms_and_environment(
    server: LiveServer, account: SdkAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    for base in (server.base_url, server.api, server.api + "/"):
        with CodexOS(api_key=account.api_key, base_url=base) as sdk:
            assert sdk.base_url == server.api
            assert sdk.users.me().id == account.user_id
    monkeypatch.setenv("CODEXOS_API_KEY", account.api_key)
    monkeypatch.setenv("CODEXOS_BASE_URL", server.base_url)
    with CodexOS() as from_env:
        assert from_env.users.me().email == account.email
    monkeypatch.delenv("CODEXOS_BASE_URL")
    with CodexOS() as default:
        assert default.base_url == "http://localhost:8001/api/v1"
