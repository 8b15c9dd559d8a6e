"""The http_request tool end to end against a real server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from codexos_server.agents.tools import builtins
from codexos_server.agents.tools.base import TOOLS, ToolContext, ToolError, validate_arguments
from codexos_server.agents.tools.http_request import HttpRequestTool, url_under_prefix
from codexos_server.config import Settings
from codexos_server.netguard import FetchPolicy
from tests.agents.local_http_server import LocalHTTPServer, StaticResolver

LOCAL = FetchPolicy(allowed_hosts=frozenset({"127.0.0.1"}))


def ctx(config: dict[str, Any] | None = None, services: Any = None) -> ToolContext:
    return ToolContext("ws_1", "user_1", "run_1", config=config or {}, services=services)


@pytest.fixture
async def server() -> AsyncIterator[LocalHTTPServer]:
    async with LocalHTTPServer() as srv:
        yield srv


async def call(tool: HttpRequestTool, arguments: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """What the agent loop does: validate against the schema, then call."""
    result: dict[str, Any] = await tool(ctx(**kw), validate_arguments(tool.parameters, arguments))
    return result


def test_builtins_register_the_tool() -> None:
    assert TOOLS["http_request"] is builtins.http_request
    assert set(TOOLS) >= {"http_request", "calculator", "current_time"}


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"url": ""},
        {"url": 42},
        {"url": "https://example.com", "method": "TRACE"},
        {"url": "https://example.com", "headers": {"X-A": 1}},
        {"url": "https://example.com", "params": {"q": {"nested": True}}},
        {"url": "https://example.com", "body": 5},
        {"url": "https://example.com", "verb": "GET"},
        {"url": "https://example.com/" + "a" * 3000},
        "https://example.com",
    ],
)
def test_bad_arguments_are_tool_errors(arguments: Any) -> None:
    with pytest.raises(ToolError, match="arguments"):
        validate_arguments(HttpRequestTool.parameters, arguments)


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.0.0.1/",
        "http://10.255.0.9:443/",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://localhost/",
        "http://[::1]/",
        "http://[::ffff:169.254.169.254]/",
    ],
)
async def test_private_loopback_and_link_local_are_refused(url: str) -> None:
    with pytest.raises(ToolError, match="request refused"):
        await call(HttpRequestTool(), {"url": url})


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254"])
async def test_a_hostname_that_resolves_to_them_is_refused(address: str) -> None:
    tool = HttpRequestTool(resolver=StaticResolver({"metadata.example": [address]}))
    with pytest.raises(ToolError, match="request refused"):
        await call(tool, {"url": "http://metadata.example/"})


@pytest.mark.parametrize("url", ["ftp://example.com/f", "file:///etc/passwd", "gopher://x/"])
async def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(ToolError, match="only http and https"):
        await call(HttpRequestTool(), {"url": url})


async def test_a_redirect_to_a_blocked_address_is_refused(server: LocalHTTPServer) -> None:
    tool = HttpRequestTool(LOCAL)
    with pytest.raises(ToolError, match="request refused"):
        await call(tool, {"url": f"{server.base}/redirect?to=http://169.254.169.254/"})
    with pytest.raises(ToolError, match="request refused"):
        await call(tool, {"url": f"{server.base}/redirect?to=http://10.0.0.1/"})


async def test_without_an_allow_list_the_local_server_is_refused(server: LocalHTTPServer) -> None:
    with pytest.raises(ToolError, match="request refused"):
        await call(HttpRequestTool(), {"url": server.base + "/json"})
    assert server.connections == 0


# --- where the allow-list comes from -----------------------------------------------------------


async def test_the_app_settings_allow_list_applies(server: LocalHTTPServer) -> None:
    settings = Settings(_env_file=None, http_allowed_hosts=["127.0.0.1"])
    result = await call(
        HttpRequestTool(),
        {"url": server.base + "/json"},
        services=SimpleNamespace(settings=settings),
    )
    assert result["status"] == 200


async def test_a_constructor_policy_wins_over_settings(server: LocalHTTPServer) -> None:
    settings = Settings(_env_file=None, http_allowed_hosts=["127.0.0.1"])
    tool = HttpRequestTool(FetchPolicy())
    with pytest.raises(ToolError, match="request refused"):
        await call(
            tool, {"url": server.base + "/json"}, services=SimpleNamespace(settings=settings)
        )


# --- allowed requests ---------------------------------------------------------------------------


async def test_get_returns_parsed_json_and_safe_headers(server: LocalHTTPServer) -> None:
    result = await call(HttpRequestTool(LOCAL), {"url": server.base + "/json"})
    assert result["status"] == 200
    assert result["json"]["hello"] == "world"
    assert result["content_type"] == "application/json"
    assert result["truncated"] is False
    assert "body" not in result
    assert result["headers"]["etag"] == '"v1"'
    assert result["headers"]["x-ratelimit-remaining"] == "9"
    assert "set-cookie" not in result["headers"]
    assert "server" not in result["headers"]


async def test_post_with_a_json_body_and_params(server: LocalHTTPServer) -> None:
    result = await call(
        HttpRequestTool(LOCAL),
        {
            "url": server.base + "/echo",
            "method": "POST",
            "json": {"name": "Ada", "tags": [1, 2]},
            "params": {"page": 2},
            "headers": {"X-Trace": "abc"},
        },
    )
    echoed = result["json"]
    assert echoed["method"] == "POST"
    assert echoed["body"] == '{"name": "Ada", "tags": [1, 2]}'
    assert echoed["headers"]["content-type"] == "application/json"
    assert echoed["headers"]["x-trace"] == "abc"
    assert echoed["query"] == {"page": "2"}


async def test_put_with_a_text_body(server: LocalHTTPServer) -> None:
    result = await call(
        HttpRequestTool(LOCAL),
        {"url": server.base + "/echo", "method": "PUT", "body": "plain words"},
    )
    assert (result["json"]["method"], result["json"]["body"]) == ("PUT", "plain words")


async def test_json_and_body_together_are_refused(server: LocalHTTPServer) -> None:
    with pytest.raises(ToolError, match="either json or body"):
        await call(
            HttpRequestTool(LOCAL),
            {"url": server.base + "/echo", "method": "POST", "json": {}, "body": "x"},
        )


async def test_a_header_injection_is_an_invalid_request(server: LocalHTTPServer) -> None:
    with pytest.raises(ToolError, match="invalid request"):
        await call(
            HttpRequestTool(LOCAL),
            {"url": server.base + "/echo", "headers": {"X-A": "1\r\nX-Injected: 2"}},
        )
    assert server.connections == 0


async def test_error_statuses_are_observations(server: LocalHTTPServer) -> None:
    result = await call(HttpRequestTool(LOCAL), {"url": server.base + "/status/404"})
    assert (result["status"], result["body"]) == (404, "nope")


async def test_binary_bodies_are_described_not_dumped(server: LocalHTTPServer) -> None:
    result = await call(HttpRequestTool(LOCAL), {"url": server.base + "/binary"})
    assert result["body"] is None
    assert "256 bytes" in result["note"]


async def test_head_has_no_body(server: LocalHTTPServer) -> None:
    result = await call(HttpRequestTool(LOCAL), {"url": server.base + "/json", "method": "HEAD"})
    assert result["status"] == 200
    assert "body" not in result
    assert "json" not in result


# --- caps ---------------------------------------------------------------------------------------


async def test_the_response_size_cap(server: LocalHTTPServer) -> None:
    tool = HttpRequestTool(FetchPolicy(allowed_hosts=LOCAL.allowed_hosts, max_response_bytes=2000))
    result = await call(tool, {"url": server.base + "/big?n=100000"})
    assert (len(result["body"]), result["truncated"]) == (2000, True)


async def test_the_text_cap_for_the_model(server: LocalHTTPServer) -> None:
    tool = HttpRequestTool(LOCAL, max_body_chars=300)
    result = await call(tool, {"url": server.base + "/big?n=1000"})
    assert (len(result["body"]), result["truncated"]) == (300, True)
    smaller = await call(tool, {"url": server.base + "/big?n=1000"}, config={"max_body_chars": 10})
    assert smaller["body"] == "a" * 10


async def test_the_timeout(server: LocalHTTPServer) -> None:
    tool = HttpRequestTool(FetchPolicy(allowed_hosts=LOCAL.allowed_hosts, timeout_seconds=0.3))
    with pytest.raises(ToolError, match="timed out"):
        await call(tool, {"url": server.base + "/slow"})


# --- per-agent restrictions ---------------------------------------------------------------------


async def test_allowed_methods_restrict_the_model(server: LocalHTTPServer) -> None:
    config = {"allowed_methods": ["get"]}
    tool = HttpRequestTool(LOCAL)
    assert (await call(tool, {"url": server.base + "/json"}, config=config))["status"] == 200
    with pytest.raises(ToolError, match="method POST is not allowed"):
        await call(tool, {"url": server.base + "/echo", "method": "POST"}, config=config)
    assert server.connections == 1


async def test_allowed_url_prefixes_apply_to_every_hop(server: LocalHTTPServer) -> None:
    tool = HttpRequestTool(LOCAL)
    config = {"allowed_url_prefixes": [f"{server.base}/redirect", f"{server.base}/json"]}
    ok = await call(tool, {"url": f"{server.base}/redirect?to=/json"}, config=config)
    assert ok["status"] == 200
    with pytest.raises(ToolError, match="outside the allowed URLs"):
        await call(tool, {"url": f"{server.base}/echo"}, config=config)
    with pytest.raises(ToolError, match="outside the allowed URLs"):
        await call(tool, {"url": f"{server.base}/redirect?to=/echo"}, config=config)


@pytest.mark.parametrize(
    ("url", "prefix", "expected"),
    [
        ("https://api.example.com/v2/users", "https://api.example.com/v2/", True),
        ("https://api.example.com/v2/users", "https://api.example.com/v2", True),
        ("https://api.example.com/v2", "https://api.example.com/v2", True),
        ("https://api.example.com/v20", "https://api.example.com/v2", False),
        ("https://API.example.com/x", "https://api.example.com", True),
        ("https://api.example.com.evil.net/v2/", "https://api.example.com", False),
        ("http://api.example.com/v2/", "https://api.example.com/v2/", False),
        ("https://api.example.com:8443/v2/", "https://api.example.com/v2/", False),
        ("https://api.example.com:443/v2/", "https://api.example.com/v2/", True),
        ("https://api.example.com/v2/../admin", "https://api.example.com/v2/", False),
        ("https://api.example.com/v2/%2e%2e/admin", "https://api.example.com/v2/", False),
        ("https://api.example.com/v2%2F..%2Fadmin", "https://api.example.com/v2/", False),
        ("https://api.example.com/v2/..%5Cadmin", "https://api.example.com/v2/", False),
    ],
)
def test_url_prefixes_match_by_parts(url: str, prefix: str, expected: bool) -> None:
    assert url_under_prefix(url, prefix) is expected


@pytest.mark.parametrize(
    "config",
    [{"allowed_methods": "GET"}, {"allowed_url_prefixes": [1]}, {"max_body_chars": "big"}],
)
async def test_a_misconfigured_agent_is_refused_before_any_request(
    server: LocalHTTPServer, config: dict[str, Any]
) -> None:
    with pytest.raises(ToolError, match="misconfigured"):
        await call(HttpRequestTool(LOCAL), {"url": server.base + "/json"}, config=config)
    assert server.connections == 0
