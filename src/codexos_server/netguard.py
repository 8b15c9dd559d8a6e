"""SSRF-safe outbound HTTP: fetch a URL only when it leads to a public address.

Used by the `http_request` tool and by knowledge-base URL ingestion, so nothing here knows
about tools or the API; callers map `FetchError` (and its subclasses) to their own errors.

How the guard holds:

- Only `http` and `https`, and only ports 80 and 443 (`FetchPolicy.allowed_ports`).
- The host is resolved once and the request is refused if *any* address is not public
  (`is_public_address`): one bad record is enough, because we cannot know which one a
  later resolution would pick.
- The connection goes to the validated address itself (the URL's host is swapped for the
  IP), while the Host header and TLS SNI/certificate checks use the original hostname. A
  DNS answer that changes between check and connect (rebinding) therefore cannot move the
  connection elsewhere.
- Redirects are followed by hand (at most `max_redirects`), each hop checked the same way.
- One deadline covers DNS, connecting, every redirect and the body, so a server that
  trickles bytes cannot hold a worker. The body is streamed and decompressed with a bound,
  so a compression bomb stops at `max_response_bytes` (the result says it was truncated).
- Environment proxies are ignored (`trust_env=False`): a proxy would open the connection
  to a host we never checked.

The allow-list (`Settings.http_allowed_hosts`) holds exact hostnames or IP literals,
compared case-insensitively. A listed host skips the address check *and* the port
restriction (an admin allowing `ollama.internal` usually means its odd port too); the
request is still pinned to the address resolved once. There are no wildcards or CIDRs:
an allowed name must be named.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from codexos_server.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

DEFAULT_PORTS: frozenset[int] = frozenset({80, 443})
_SCHEME_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Headers the client manages itself; a caller's values would break framing or pinning.
_MANAGED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}
    | {"te", "trailer", "proxy-authorization", "proxy-connection", "accept-encoding"}
)
_CREDENTIAL_HEADERS = ("authorization", "cookie")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
_HOSTNAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?", re.IGNORECASE)

# Refused even where a Python version's `is_global` says otherwise.
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for group in (
        ("0.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),  # "this", private
        ("100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16"),  # CGNAT, loopback, link-local
        ("192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15"),  # IETF, test
        ("198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4"),  # multicast...
        ("::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32"),  # v4-compat...
        ("fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"),  # ULA, link/site-local, multicast
    )
    for n in group
)
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchError(Exception):
    """An outbound request failed: bad URL, DNS, network, TLS or a malformed response."""


class InvalidRequest(FetchError):
    """The request itself is malformed: its URL or a header."""


class InvalidURL(InvalidRequest):
    """The URL cannot be parsed or has no valid host."""


class BlockedDestination(FetchError):
    """The policy refuses the destination: scheme, port, or a non-public address."""


class FetchTimeout(FetchError):
    """No complete response arrived within the policy's deadline."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, translated, NAT64, 6to4)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _TRANSLATED or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def is_public_address(ip: IPAddress) -> bool:
    """Whether outbound requests may reach this address without an allow-list entry.

    False for private, loopback, link-local, multicast, reserved, unspecified, CGNAT and
    documentation ranges, and for IPv6 forms that embed such an IPv4 address.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            if not is_public_address(embedded):
                return False
            if ip in _MAPPED or ip in _TRANSLATED or ip in _NAT64:
                return True  # only the embedded IPv4 address is ever reached
        if ip.is_site_local:
            return False
    if any(ip in net for net in _BLOCKED_NETWORKS):
        return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def _parse_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def normalize_host(host: str) -> str:
    """The form hosts are compared in: lower case, no brackets or trailing dot, IPs canonical."""
    name = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    ip = _parse_ip(name)
    return str(ip) if ip is not None else name


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Resolve with the system's getaddrinfo (hosts file included), off the event loop.

    Raises: FetchError when the name does not resolve.
    """
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"could not resolve host {host!r}") from exc
    addresses: list[IPAddress] = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(str(sockaddr[0]))
        if ip not in addresses:
            addresses.append(ip)
    return addresses


@dataclass(frozen=True)
class FetchPolicy:
    """What outbound requests may reach, and how much they may cost."""

    allowed_hosts: frozenset[str] = frozenset()
    allowed_ports: frozenset[int] = DEFAULT_PORTS
    timeout_seconds: float = 10.0
    max_response_bytes: int = 1024 * 1024
    max_redirects: int = 5
    user_agent: str = "CodexOS/0.1"

    def __post_init__(self) -> None:
        hosts = frozenset(normalize_host(h) for h in self.allowed_hosts if h.strip())
        object.__setattr__(self, "allowed_hosts", hosts)

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        """The policy an app's settings describe (allow-list, timeout, size cap)."""
        return cls(
            allowed_hosts=frozenset(settings.http_allowed_hosts),
            timeout_seconds=settings.http_timeout_seconds,
            max_response_bytes=settings.http_max_response_bytes,
        )

    def allows_host(self, host: str) -> bool:
        return normalize_host(host) in self.allowed_hosts


@dataclass(frozen=True)
class Destination:
    """A checked hop: the URL, its host and port, and the addresses it may connect to."""

    url: httpx.URL
    host: str  # ASCII (IDNA) hostname or IP literal, without brackets
    port: int
    addresses: tuple[IPAddress, ...]
    allow_listed: bool


@dataclass(frozen=True)
class FetchResponse:
    """The final response after redirects; `content` is decoded and at most the cap."""

    status: int
    reason: str
    url: str
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ", "
    content: bytes
    truncated: bool
    content_type: str | None  # media type only, lower case, e.g. "application/json"
    charset: str | None
    redirects: tuple[str, ...] = field(default=())  # the URLs that redirected here

    @property
    def text(self) -> str:
        """The body as text: the declared charset, else UTF-8; bad bytes are replaced."""
        try:
            return self.content.decode(self.charset or "utf-8", errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")


def parse_content_type(value: str | None) -> tuple[str | None, str | None]:
    """Split a Content-Type header into (media type, charset), both lower case."""
    if not value:
        return None, None
    media, _, rest = value.partition(";")
    charset = None
    for param in rest.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip('"').lower() or None
    return media.strip().lower() or None, charset


def _parse_url(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidURL(f"invalid URL: {exc}") from exc
    if parsed.scheme not in _SCHEME_PORTS:
        raise BlockedDestination(
            f"only http and https URLs are allowed, not {parsed.scheme or 'a relative URL'!r}"
        )
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise InvalidURL("the URL has no host")
    if _parse_ip(host) is None and (len(host) > 253 or not _HOSTNAME.fullmatch(host)):
        raise InvalidURL(f"invalid host name {host!r}")
    return parsed


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


class SafeHttpClient:
    """Fetches URLs under a FetchPolicy; see the module docstring for the guarantees.

    `resolver` and `ssl_context` are ports: the defaults are the system resolver and the
    certifi trust store; tests and special deployments pass their own.
    """

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self._resolver = resolver
        self._ssl_context = ssl_context

    async def check_url(self, url: str | httpx.URL) -> Destination:
        """Validate one URL against the policy and resolve it, without connecting.

        Raises: InvalidURL, BlockedDestination, FetchError (DNS).
        """
        parsed = _parse_url(url)
        host = parsed.raw_host.decode("ascii")
        port = parsed.port or _SCHEME_PORTS[parsed.scheme]
        allow_listed = self.policy.allows_host(host)
        if not allow_listed and port not in self.policy.allowed_ports:
            allowed = ", ".join(str(p) for p in sorted(self.policy.allowed_ports))
            raise BlockedDestination(f"port {port} is not allowed (allowed: {allowed})")
        literal = _parse_ip(host)
        addresses = (literal,) if literal is not None else tuple(await self._resolve(host, port))
        if not addresses:
            raise FetchError(f"could not resolve host {host!r}")
        if not allow_listed and not all(is_public_address(ip) for ip in addresses):
            # The address itself is not echoed: it would let a caller map internal DNS.
            raise BlockedDestination(
                f"{host} is not reachable: it is a private, loopback, link-local or "
                "otherwise non-public address"
            )
        return Destination(parsed, host, port, addresses, allow_listed)

    async def _resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        try:
            return await self._resolver(host, port)
        except FetchError:
            raise
        except OSError as exc:
            raise FetchError(f"could not resolve host {host!r}") from exc

    async def fetch(
        self,
        url: str | httpx.URL,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str | int | float | bool] | None = None,
        content: bytes | str | None = None,
        allow_url: Callable[[str], bool] | None = None,
    ) -> FetchResponse:
        """Send one request, following redirects, and read the body up to the cap.

        `allow_url` is a caller's extra rule checked on every hop (e.g. an agent's URL
        prefixes); returning False refuses the hop. Any status code is a response, not an
        error.

        Raises: InvalidRequest (incl. InvalidURL), BlockedDestination, FetchTimeout,
        FetchError.
        """
        start = _parse_url(url)
        if params:
            start = start.copy_merge_params(dict(params))
        body = content.encode() if isinstance(content, str) else content
        try:
            async with asyncio.timeout(self.policy.timeout_seconds):
                return await self._follow(start, method.upper(), headers or {}, body, allow_url)
        except TimeoutError as exc:
            raise FetchTimeout(
                f"no complete response within {self.policy.timeout_seconds:g} s"
            ) from exc

    async def _follow(
        self,
        url: httpx.URL,
        method: str,
        caller_headers: Mapping[str, str],
        body: bytes | None,
        allow_url: Callable[[str], bool] | None,
    ) -> FetchResponse:
        headers = _request_headers(caller_headers, self.policy.user_agent)
        visited: list[str] = []
        for _ in range(self.policy.max_redirects + 1):
            if allow_url is not None and not allow_url(str(url)):
                raise BlockedDestination(f"{url} is outside the allowed URLs")
            dest = await self.check_url(url)
            # A fresh client per hop: a pooled TLS connection must never carry a request
            # for a different hostname than the one its certificate was checked against.
            async with self._client() as client:
                response = await self._send(client, dest, method, headers, body)
                try:
                    location = response.headers.get("location")
                    if response.status_code not in _REDIRECTS or not location:
                        return await self._finish(response, dest, method, tuple(visited))
                finally:
                    await response.aclose()
            visited.append(str(url))
            try:
                target = _parse_url(url.join(location))
            except httpx.InvalidURL as exc:
                raise InvalidURL(f"invalid redirect location: {exc}") from exc
            method, body, headers = _redirected(response.status_code, method, body, headers)
            if _origin(target) != _origin(url):
                headers = {k: v for k, v in headers.items() if k not in _CREDENTIAL_HEADERS}
            url = target
        raise FetchError(f"too many redirects (more than {self.policy.max_redirects})")

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            verify=self._ssl_context or _default_ssl_context(),
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(self.policy.timeout_seconds),
        )

    async def _send(
        self,
        client: httpx.AsyncClient,
        dest: Destination,
        method: str,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> httpx.Response:
        """Connect to the checked addresses in turn; the first that answers wins."""
        last: Exception | None = None
        for address in dest.addresses:
            try:
                request = client.build_request(
                    method,
                    dest.url.copy_with(host=str(address)),
                    headers={**headers, "host": _host_header(dest)},
                    content=body,
                    extensions={"sni_hostname": dest.host} if dest.url.scheme == "https" else {},
                )
                return await client.send(request, stream=True)
            except httpx.ConnectError as exc:
                last = exc
            except httpx.TimeoutException as exc:
                raise FetchTimeout(f"{dest.host} did not answer in time") from exc
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise FetchError(f"request to {dest.host} failed: {exc}") from exc
        raise FetchError(f"could not connect to {dest.host}: {last}")

    async def _finish(
        self,
        response: httpx.Response,
        dest: Destination,
        method: str,
        redirects: tuple[str, ...],
    ) -> FetchResponse:
        content, truncated = b"", False
        if method != "HEAD":
            content, truncated = await _read_body(response, self.policy.max_response_bytes)
        content_type, charset = parse_content_type(response.headers.get("content-type"))
        return FetchResponse(
            status=response.status_code,
            reason=response.reason_phrase,
            url=str(dest.url),
            headers={k.lower(): v for k, v in response.headers.items()},
            content=content,
            truncated=truncated,
            content_type=content_type,
            charset=charset,
            redirects=redirects,
        )


async def _read_body(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """Stream and decode the body, stopping one byte past the cap to detect truncation."""
    decoder = _BodyDecoder(response.headers.get("content-encoding", ""))
    try:
        buf = bytearray()
        async for chunk in response.aiter_raw():
            buf += decoder.feed(chunk, cap + 1 - len(buf))
            if len(buf) > cap:
                return bytes(buf[:cap]), True
        buf += decoder.flush(cap + 1 - len(buf))
    except httpx.TimeoutException as exc:
        raise FetchTimeout("the response body did not arrive in time") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"reading the response failed: {exc}") from exc
    if len(buf) > cap:
        return bytes(buf[:cap]), True
    return bytes(buf), False


def _request_headers(headers: Mapping[str, str], user_agent: str) -> dict[str, str]:
    """The caller's headers, checked before any connection, minus the managed ones.

    Raises: InvalidRequest for a name that is not an HTTP token or a value that is not
    printable ASCII (which would otherwise fail mid-request or smuggle a header line).
    """
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise InvalidRequest(f"invalid header name {name!r}")
        if not _HEADER_VALUE.fullmatch(value):
            raise InvalidRequest(f"header {name!r} must be printable ASCII on one line")
    out = {k.lower(): v for k, v in headers.items() if k.lower() not in _MANAGED_HEADERS}
    out.setdefault("user-agent", user_agent)
    out["accept-encoding"] = "gzip, deflate"  # what _BodyDecoder can bound
    return out


def _host_header(dest: Destination) -> str:
    host = f"[{dest.host}]" if ":" in dest.host else dest.host
    return host if dest.url.port is None else f"{host}:{dest.url.port}"


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return url.scheme, normalize_host(url.raw_host.decode("ascii")), url.port or 0


def _redirected(
    status: int, method: str, body: bytes | None, headers: dict[str, str]
) -> tuple[str, bytes | None, dict[str, str]]:
    """The next hop's method, body and headers, as browsers and httpx do it."""
    new_method = method
    if (status in (302, 303) and method != "HEAD") or (status == 301 and method == "POST"):
        new_method = "GET"
    if new_method != method:
        return new_method, None, {k: v for k, v in headers.items() if k != "content-type"}
    return new_method, body, headers


class _BodyDecoder:
    """Undo gzip/deflate content coding without ever producing more than asked for.

    `feed(data, limit)` returns at most `limit` bytes; input left over at that point is
    dropped, which is right because the caller stops at the cap anyway. This is what makes
    a small compressed body that inflates to gigabytes harmless.
    """

    def __init__(self, encoding: str) -> None:
        coding = encoding.strip().lower()
        self._raw_deflate_fallback = coding == "deflate"
        self._zlib: zlib._Decompress | None
        if coding in ("", "identity"):
            self._zlib = None
        elif coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif coding == "deflate":
            self._zlib = zlib.decompressobj()
        else:
            raise FetchError(f"unsupported content encoding {encoding!r}")

    def feed(self, data: bytes, limit: int) -> bytes:
        if self._zlib is None:
            return data[:limit]
        try:
            out = self._zlib.decompress(data, limit)
        except zlib.error as exc:
            if not self._raw_deflate_fallback:
                raise FetchError(f"could not decode the response body: {exc}") from exc
            # Some servers send raw deflate without the zlib wrapper the RFC asks for.
            self._raw_deflate_fallback = False
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.feed(data, limit)
        self._raw_deflate_fallback = False
        return out

    def flush(self, limit: int) -> bytes:
        return b"" if self._zlib is None else self._zlib.flush()[:limit]
