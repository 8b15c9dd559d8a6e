"""The BlobStore port (original files, so a re-index needs no re-upload) and its local
filesystem adapter: content-addressed files under `<data dir>/blobs/`."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Protocol

import anyio


class BlobStore(Protocol):
    async def put(self, data: bytes) -> str:
        """Store bytes; returns their key (the same bytes always get the same key)."""
        ...

    async def get(self, key: str) -> bytes:
        """Raises: FileNotFoundError."""
        ...

    async def delete(self, key: str) -> None: ...


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise FileNotFoundError(key)
        return self.root / key[:2] / key[2:4] / key

    async def put(self, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)

        def write() -> None:
            if path.exists():
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{key}.{secrets.token_hex(4)}")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # atomic: readers never see half a file

        await anyio.to_thread.run_sync(write)
        return key

    async def get(self, key: str) -> bytes:
        return await anyio.to_thread.run_sync(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))
