"""A real HTTP(S) server on 127.0.0.1 for the netguard and http_request tests.

Built on `asyncio.start_server`, so it runs in the test's own event loop, needs no thread,
and records every connection and request it sees (a refused fetch must show zero).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import ipaddress
import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from codexos_server.netguard import FetchError, IPAddress

# 8 MB of zeros that travel as a few KB: a small compression bomb.
GZIP_BOMB = gzip.compress(b"\0" * 8_000_000, compresslevel=9)


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalHTTPServer:
    """Routes: /json, /echo, /big?n=, /gzip, /gzip-bomb, /slow, /drip, /redirect?to=&status=,
    /loop, /status/<code>, /binary, /latin1."""

    ssl_context: ssl.SSLContext | None = None
    connections: int = 0
    requests: list[SeenRequest] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def __aenter__(self) -> LocalHTTPServer:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        self._stopping.set()  # ends /slow and /drip; nothing is cancelled mid-write
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            seen = await _read_request(reader)
            self.requests.append(seen)
            await self._route(seen, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, ValueError):
            pass
        finally:
            writer.close()
            self._handlers.discard(task)

    async def _route(self, seen: SeenRequest, writer: asyncio.StreamWriter) -> None:
        path, q = seen.path, seen.query
        if path == "/json":
            payload: dict[str, object] = {"hello": "world", "host": seen.headers.get("host")}
            extra = {"Set-Cookie": "session=secret", "Server": "internal/1.2", "ETag": '"v1"'}
            extra["X-RateLimit-Remaining"] = "9"
            _respond(writer, 200, json.dumps(payload).encode(), "application/json", extra)
        elif path == "/echo":
            payload = {
                "method": seen.method,
                "query": {k: v[0] for k, v in q.items()},
                "headers": seen.headers,
                "body": seen.body.decode(),
            }
            _respond(writer, 200, json.dumps(payload).encode(), "application/json")
        elif path == "/big":
            _respond(writer, 200, b"a" * int(q["n"][0]), "text/plain")
        elif path == "/gzip":
            body = gzip.compress(json.dumps({"zipped": True}).encode())
            _respond(writer, 200, body, "application/json", {"Content-Encoding": "gzip"})
        elif path == "/gzip-bomb":
            _respond(writer, 200, GZIP_BOMB, "text/plain", {"Content-Encoding": "gzip"})
        elif path == "/slow":
            await self._stopping.wait()
        elif path == "/drip":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            while not self._stopping.is_set():
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.05)
        elif path in ("/redirect", "/loop"):
            status = int(q.get("status", ["302"])[0])
            target = q["to"][0] if path == "/redirect" else "/loop"
            _respond(writer, status, b"", "text/plain", {"Location": target})
        elif path.startswith("/status/"):
            _respond(writer, int(path.rsplit("/", 1)[1]), b"nope", "text/plain")
        elif path == "/binary":
            _respond(writer, 200, bytes(range(256)), "application/octet-stream")
        elif path == "/latin1":
            _respond(writer, 200, "café".encode("latin-1"), "text/plain; charset=ISO-8859-1")
        else:
            _respond(writer, 404, b"not found", "text/plain")
        await writer.drain()


async def _read_request(reader: asyncio.StreamReader) -> SeenRequest:
    method, target, _ = (await reader.readline()).decode().split(" ", 2)
    headers: dict[str, str] = {}
    while (line := (await reader.readline()).decode().strip()) != "":
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    parts = urlsplit(target)
    return SeenRequest(method, parts.path, parse_qs(parts.query), headers, body)


def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    content_type: str,
    extra: dict[str, str] | None = None,
) -> None:
    headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
    headers.update(extra or {})
    head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)


class StaticResolver:
    """A DNS stand-in: names map to fixed answers, and every lookup is recorded."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        if host not in self.table:
            raise FetchError(f"could not resolve host {host!r}")
        return [ipaddress.ip_address(a) for a in self.table[host]]


def tls_contexts(hostname: str, tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for `hostname`: (server context, client context trusting it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client
