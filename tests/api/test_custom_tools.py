"""User-defined HTTP tools: defined with a JSON schema and a URL template, header secrets
stored encrypted, called by an agent through the SSRF guard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.agents.local_http_server import LocalHTTPServer
from tests.conftest import assert_envelope, register

SECRET = "Bearer top-secret-token"
PARAMS = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "units": {"type": "string"}},
    "required": ["city"],
}


async def test_agent_calls_a_custom_http_tool(client_factory: Callable[..., Any]) -> None:
    http = await client_factory(http_allowed_hosts=["127.0.0.1"])
    account = await register(http)
    h = account.headers()
    async with LocalHTTPServer() as server:
        r = await http.post(
            "/tools/custom",
            json={
                "name": "weather",
                "description": "Weather",
                "parameters": PARAMS,
                "method": "GET",
                "url_template": f"{server.base}/echo?city={{city}}",
                "headers": {"Authorization": SECRET},
            },
            headers=h,
        )
        assert (
            r.status_code == 201
            and SECRET not in r.text
            and r.json()["header_names"] == ["Authorization"]
        )
        listing = await http.get("/tools", headers=h)
        assert {"calculator", "http_request", "current_time", "agent_call", "weather"} <= {
            t["name"] for t in listing.json()
        }
        assert (
            SECRET not in listing.text
            and SECRET not in (await http.get("/tools/custom", headers=h)).text
        )
        script = [
            {
                "tool_calls": [
                    {"name": "weather", "arguments": {"city": "São Paulo", "units": "metric"}}
                ]
            },
            {"content": "{{last_tool_result}}"},
        ]
        agent = (
            await http.post(
                "/agents",
                json={
                    "name": "w",
                    "type": "tool",
                    "tools": [{"name": "weather"}],
                    "model": {"provider": "scripted", "options": {"script": script}},
                },
                headers=h,
            )
        ).json()
        run = (
            await http.post(
                f"/agents/{agent['id']}/execute", json={"input_data": "weather?"}, headers=h
            )
        ).json()
        assert run["status"] == "succeeded", run
        assert server.requests[-1].query == {"city": ["São Paulo"], "units": ["metric"]}
        assert server.requests[-1].headers["authorization"] == SECRET
        assert '"status": 200' in run["output"]


async def test_custom_tool_validation(client_factory: Callable[..., Any]) -> None:
    http = await client_factory()
    account = await register(http)
    h = account.headers()
    base = {"name": "t", "parameters": PARAMS, "url_template": "https://example.com/{city}"}
    for bad in (
        {"parameters": {"type": "wat"}},
        {"parameters": {"type": "string"}},
        {"url_template": "ftp://x/{a}"},
        {"name": "calculator"},
        {"name": "has space"},
        {"method": "TRACE"},
    ):
        assert_envelope(
            await http.post("/tools/custom", json={**base, **bad}, headers=h),
            422,
            "VALIDATION_ERROR",
        )
    assert (await http.post("/tools/custom", json=base, headers=h)).status_code == 201
    assert_envelope(await http.post("/tools/custom", json=base, headers=h), 409, "CONFLICT")


async def test_custom_tool_to_a_private_address_is_refused(
    client_factory: Callable[..., Any],
) -> None:
    http = await client_factory()
    account = await register(http)
    h = account.headers()
    await http.post(
        "/tools/custom",
        json={
            "name": "inside",
            "parameters": {"type": "object"},
            "url_template": "http://127.0.0.1:1/admin",
        },
        headers=h,
    )
    script = [
        {"tool_calls": [{"name": "inside", "arguments": {}}]},
        {"content": "{{last_tool_result}}"},
    ]
    agent = (
        await http.post(
            "/agents",
            json={
                "name": "i",
                "type": "tool",
                "tools": [{"name": "inside"}],
                "model": {"provider": "scripted", "options": {"script": script}},
            },
            headers=h,
        )
    ).json()
    run = (
        await http.post(f"/agents/{agent['id']}/execute", json={"input_data": "x"}, headers=h)
    ).json()
    assert run["output"].startswith("Error:")
