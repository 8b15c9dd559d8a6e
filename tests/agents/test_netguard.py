"""netguard against a real HTTP(S) server on 127.0.0.1 and the system resolver.

The only stand-in is `StaticResolver`, a DNS answer table for names the machine cannot
resolve offline (a name that points at 10.0.0.0/8, or at the local test server).
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codexos_server.config import Settings
from codexos_server.netguard import (
    BlockedDestination,
    FetchError,
    FetchPolicy,
    FetchTimeout,
    InvalidRequest,
    InvalidURL,
    SafeHttpClient,
    is_public_address,
    normalize_host,
    parse_content_type,
)
from tests.agents.local_http_server import LocalHTTPServer, StaticResolver, tls_contexts

LOCAL = frozenset({"127.0.0.1"})


@pytest.fixture
async def server() -> AsyncIterator[LocalHTTPServer]:
    async with LocalHTTPServer() as srv:
        yield srv


def local_client(**policy: object) -> SafeHttpClient:
    return SafeHttpClient(FetchPolicy(allowed_hosts=LOCAL, **policy))  # type: ignore[arg-type]


# --- the address rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104
        "0.1.2.3",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        "::",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:0:a00:1",  # IPv4-translated 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "fe80::1",
        "fec0::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "2001:db8::1",
        "100::1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


def test_hosts_normalize_for_allow_list_matching() -> None:
    assert normalize_host("Example.COM.") == "example.com"
    assert normalize_host("[0:0::1]") == "::1"
    policy = FetchPolicy(allowed_hosts=frozenset({"Intranet.Local", "::1"}))
    assert policy.allows_host("intranet.local.")
    assert policy.allows_host("0::1")
    assert not policy.allows_host("other.local")


def test_policy_from_settings() -> None:
    settings = Settings(
        _env_file=None,
        http_allowed_hosts=["Ollama.Internal"],
        http_timeout_seconds=3,
        http_max_response_bytes=1234,
    )
    policy = FetchPolicy.from_settings(settings)
    assert policy.allowed_hosts == {"ollama.internal"}
    assert (policy.timeout_seconds, policy.max_response_bytes) == (3, 1234)
    assert policy.allowed_ports == {80, 443}


def test_parse_content_type() -> None:
    assert parse_content_type('Text/HTML; Charset="UTF-8"') == ("text/html", "utf-8")
    assert parse_content_type(None) == (None, None)


# --- refusals before any connection ----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:80/admin",
        "https://10.0.0.1/",
        "http://10.20.30.40/",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/",  # resolves to 127.0.0.1 through the hosts file
        "http://LocalHost:80/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://2130706433/",  # 127.0.0.1 as one integer, which getaddrinfo accepts
        "http://0.0.0.0/",
        "http://100.64.1.1/",
    ],
)
async def test_private_destinations_are_blocked(url: str) -> None:
    with pytest.raises(BlockedDestination, match="not reachable"):
        await SafeHttpClient().fetch(url)


@pytest.mark.parametrize("address", ["10.0.0.7", "169.254.169.254", "127.0.0.1", "fd00::1"])
async def test_a_hostname_resolving_to_a_private_address_is_blocked(address: str) -> None:
    resolver = StaticResolver({"innocent.example": [address]})
    with pytest.raises(BlockedDestination) as caught:
        await SafeHttpClient(resolver=resolver).fetch("https://innocent.example/")
    assert address not in str(caught.value)  # internal DNS answers are not echoed


async def test_one_private_record_among_public_ones_is_enough_to_block() -> None:
    resolver = StaticResolver({"mixed.example": ["8.8.8.8", "10.0.0.1"]})
    with pytest.raises(BlockedDestination):
        await SafeHttpClient(resolver=resolver).check_url("http://mixed.example/")


async def test_the_local_server_is_unreachable_without_the_allow_list(
    server: LocalHTTPServer,
) -> None:
    # Its port is allowed, so only the address rule stands between us and the server.
    client = SafeHttpClient(FetchPolicy(allowed_ports=frozenset({server.port})))
    with pytest.raises(BlockedDestination):
        await client.fetch(server.base + "/json")
    assert server.connections == 0


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "file:///etc/passwd", "gopher://example.com/", "data:text/plain,hi"],
)
async def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(BlockedDestination, match="only http and https"):
        await SafeHttpClient().fetch(url)


@pytest.mark.parametrize(
    "url", ["http:///path", "http://exa mple.com/", "http://a_b%00.example/", "https://[::1/"]
)
async def test_malformed_urls_are_invalid(url: str) -> None:
    with pytest.raises(InvalidURL):
        await SafeHttpClient().fetch(url)


@pytest.mark.parametrize(
    "headers",
    [{"X-A": "a\r\nInjected: 1"}, {"X-A": "café"}, {"Bad Name": "x"}, {"": "x"}],
)
async def test_malformed_headers_are_refused_before_connecting(
    server: LocalHTTPServer, headers: dict[str, str]
) -> None:
    with pytest.raises(InvalidRequest):
        await local_client().fetch(server.base + "/echo", headers=headers)
    assert server.connections == 0


async def test_other_ports_need_the_allow_list() -> None:
    resolver = StaticResolver({"api.example": ["8.8.8.8"]})
    with pytest.raises(BlockedDestination, match="port 8080"):
        await SafeHttpClient(resolver=resolver).fetch("http://api.example:8080/")
    assert resolver.lookups == []  # refused before any DNS query


async def test_unresolvable_host_is_a_fetch_error() -> None:
    with pytest.raises(FetchError, match="could not resolve"):
        await SafeHttpClient(resolver=StaticResolver({})).fetch("http://nowhere.example/")


# --- allowed requests to the real server ------------------------------------------------------


async def test_get_json_from_an_allow_listed_host(server: LocalHTTPServer) -> None:
    response = await local_client().fetch(server.base + "/json")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert json.loads(response.content)["hello"] == "world"
    assert response.url == server.base + "/json"
    assert not response.truncated
    assert response.headers["set-cookie"] == "session=secret"


async def test_post_sends_body_params_and_headers(server: LocalHTTPServer) -> None:
    response = await local_client().fetch(
        server.base + "/echo?a=1",
        method="post",
        params={"b": 2, "c": True},
        headers={"Content-Type": "application/json", "X-Token": "t", "Host": "evil.example"},
        content='{"x": 1}',
    )
    echoed = json.loads(response.text)
    assert echoed["method"] == "POST"
    assert echoed["query"] == {"a": "1", "b": "2", "c": "true"}
    assert echoed["body"] == '{"x": 1}'
    assert echoed["headers"]["x-token"] == "t"
    assert echoed["headers"]["host"] == f"127.0.0.1:{server.port}"  # the caller's Host is ignored
    assert echoed["headers"]["user-agent"].startswith("CodexOS/")


async def test_the_connection_is_pinned_to_the_checked_address(server: LocalHTTPServer) -> None:
    # `service.internal` exists only in the stub resolver: the request can only succeed if
    # the client connects to the address it checked, while sending the name as Host.
    resolver = StaticResolver({"service.internal": ["127.0.0.1"]})
    client = SafeHttpClient(
        FetchPolicy(allowed_hosts=frozenset({"Service.Internal"})), resolver=resolver
    )
    response = await client.fetch(f"http://service.internal:{server.port}/json")
    assert json.loads(response.content)["host"] == f"service.internal:{server.port}"
    assert resolver.lookups == ["service.internal"]  # resolved once, then pinned


async def test_tls_checks_the_hostname_while_connecting_to_the_pinned_address(
    tmp_path: Path,
) -> None:
    server_tls, client_tls = tls_contexts("api.internal", tmp_path)
    resolver = StaticResolver({"api.internal": ["127.0.0.1"], "other.internal": ["127.0.0.1"]})
    policy = FetchPolicy(allowed_hosts=frozenset({"api.internal", "other.internal"}))
    client = SafeHttpClient(policy, resolver=resolver, ssl_context=client_tls)
    async with LocalHTTPServer(ssl_context=server_tls) as srv:
        response = await client.fetch(f"https://api.internal:{srv.port}/json")
        assert json.loads(response.content)["host"] == f"api.internal:{srv.port}"
        # Same address, but the certificate is not valid for this name.
        with pytest.raises(FetchError, match="certificate"):
            await client.fetch(f"https://other.internal:{srv.port}/json")


async def test_head_reads_no_body(server: LocalHTTPServer) -> None:
    response = await local_client().fetch(server.base + "/big?n=100", method="HEAD")
    assert (response.status, response.content, response.truncated) == (200, b"", False)


async def test_error_statuses_are_responses(server: LocalHTTPServer) -> None:
    response = await local_client().fetch(server.base + "/status/503")
    assert (response.status, response.text) == (503, "nope")


async def test_text_uses_the_declared_charset(server: LocalHTTPServer) -> None:
    response = await local_client().fetch(server.base + "/latin1")
    assert response.charset == "iso-8859-1"
    assert response.text == "café"


# --- caps and deadlines ------------------------------------------------------------------------


async def test_the_body_stops_at_the_size_cap(server: LocalHTTPServer) -> None:
    client = local_client(max_response_bytes=1000)
    big = await client.fetch(server.base + "/big?n=50000")
    assert (len(big.content), big.truncated) == (1000, True)
    exact = await client.fetch(server.base + "/big?n=1000")
    assert (len(exact.content), exact.truncated) == (1000, False)


async def test_gzip_is_decoded(server: LocalHTTPServer) -> None:
    response = await local_client().fetch(server.base + "/gzip")
    assert json.loads(response.content) == {"zipped": True}


async def test_a_compression_bomb_stops_at_the_cap(server: LocalHTTPServer) -> None:
    response = await local_client(max_response_bytes=10_000).fetch(server.base + "/gzip-bomb")
    assert (len(response.content), response.truncated) == (10_000, True)


async def test_a_silent_server_times_out(server: LocalHTTPServer) -> None:
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        await local_client(timeout_seconds=0.3).fetch(server.base + "/slow")
    assert time.monotonic() - started < 1.5


async def test_a_trickling_body_hits_the_overall_deadline(server: LocalHTTPServer) -> None:
    # Each byte arrives well within a per-read timeout; only the overall deadline ends it.
    with pytest.raises(FetchTimeout):
        await local_client(timeout_seconds=0.4).fetch(server.base + "/drip")


# --- redirects ---------------------------------------------------------------------------------


async def test_redirects_are_followed_and_recorded(server: LocalHTTPServer) -> None:
    start = server.base + "/redirect?to=/json"
    response = await local_client().fetch(start)
    assert response.status == 200
    assert response.url == server.base + "/json"
    assert response.redirects == (start,)


async def test_303_turns_a_post_into_a_get_and_307_keeps_it(server: LocalHTTPServer) -> None:
    client = local_client()
    see_other = await client.fetch(
        server.base + "/redirect?to=/echo&status=303", method="POST", content="payload"
    )
    assert (json.loads(see_other.text)["method"], json.loads(see_other.text)["body"]) == (
        "GET",
        "",
    )
    temporary = await client.fetch(
        server.base + "/redirect?to=/echo&status=307", method="POST", content="payload"
    )
    assert (json.loads(temporary.text)["method"], json.loads(temporary.text)["body"]) == (
        "POST",
        "payload",
    )


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/",
        "http://[::1]:80/",
        "file:///etc/passwd",
    ],
)
async def test_a_redirect_to_a_blocked_destination_is_refused(
    server: LocalHTTPServer, target: str
) -> None:
    with pytest.raises(BlockedDestination):
        await local_client().fetch(f"{server.base}/redirect?to={target}")
    assert server.connections == 1  # only the allowed first hop was contacted


async def test_redirect_loops_end(server: LocalHTTPServer) -> None:
    with pytest.raises(FetchError, match="too many redirects"):
        await local_client(max_redirects=3).fetch(server.base + "/loop")
    assert server.connections == 4


async def test_credentials_do_not_follow_a_redirect_to_another_origin(
    server: LocalHTTPServer,
) -> None:
    client = SafeHttpClient(FetchPolicy(allowed_hosts=frozenset({"127.0.0.1", "localhost"})))
    other_origin = f"http://localhost:{server.port}/echo"
    response = await client.fetch(
        f"{server.base}/redirect?to={other_origin}&status=307",
        headers={"Authorization": "Bearer s3cret", "X-Keep": "yes"},
    )
    headers = json.loads(response.text)["headers"]
    assert "authorization" not in headers
    assert headers["x-keep"] == "yes"
    assert server.requests[0].headers["authorization"] == "Bearer s3cret"


async def test_a_caller_rule_is_checked_on_every_hop(server: LocalHTTPServer) -> None:
    def only_redirect_paths(url: str) -> bool:
        return "/redirect" in url

    with pytest.raises(BlockedDestination, match="outside the allowed URLs"):
        await local_client().fetch(
            server.base + "/redirect?to=/json", allow_url=only_redirect_paths
        )
