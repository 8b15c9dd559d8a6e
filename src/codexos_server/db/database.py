"""The Database object: one engine and session factory, and the unit-of-work helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.base import Executable

from codexos_server.db.engine import NO_BEGIN, SQLITE_BEGIN_OPTION, create_engine


class Database:
    """Owns the engine; services open a `transaction()` (writes) or a `read()` per call."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 20) -> None:
        self.url = url
        self.engine: AsyncEngine = create_engine(url, echo=echo, pool_size=pool_size)
        self.dialect = self.engine.dialect.name
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Queuing this process's writers on an asyncio lock
        # is far cheaper than letting them collide on the file lock, where SQLite's busy
        # handler sleeps in growing steps (throughput fell to ~50 writes/s without it).
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction, committed on success and rolled back on error.

        Do not open one inside another in the same task: on SQLite the second would wait for
        the first forever.
        """
        async with AsyncExitStack() as stack:
            if self._write_lock is not None:
                await stack.enter_async_context(self._write_lock)
            session = await stack.enter_async_context(self._sessions())
            await stack.enter_async_context(session.begin())
            if self.is_sqlite:
                await session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            yield session

    @asynccontextmanager
    async def write_connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in a write transaction: for hot paths (the job store) where the
        ORM's unit of work costs more than the statement itself."""
        async with AsyncExitStack() as stack:
            if self._write_lock is not None:
                await stack.enter_async_context(self._write_lock)
            options = {SQLITE_BEGIN_OPTION: "IMMEDIATE"} if self.is_sqlite else {}
            conn = await stack.enter_async_context(self.engine.connect())
            if options:
                conn = await conn.execution_options(**options)
            await stack.enter_async_context(conn.begin())
            yield conn

    async def execute_one(self, stmt: Executable) -> tuple[list[Row[*tuple[Any, ...]]], int]:
        """Run ONE write statement atomically, without an explicit transaction around it
        (PostgreSQL autocommit; SQLite's implicit transaction, still under the writer lock).
        Returns the rows it returned and its rowcount. A single statement is atomic either
        way; this saves the BEGIN and COMMIT round trips on the hottest write paths."""
        async with AsyncExitStack() as stack:
            if self._write_lock is not None:
                await stack.enter_async_context(self._write_lock)
            conn = await stack.enter_async_context(self.engine.connect())
            if self.is_sqlite:
                conn = await conn.execution_options(**{SQLITE_BEGIN_OPTION: NO_BEGIN})
            else:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            result = await conn.execute(stmt)
            rows = list(result.all()) if result.returns_rows else []
            count = result.rowcount
            await conn.commit()
            return rows, count

    @asynccontextmanager
    async def read_connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection for point reads: each statement sees its own consistent
        snapshot, with no transaction around them (on SQLite that saves the BEGIN and COMMIT
        trips to the driver thread). Use `read()` when several reads must agree."""
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = await conn.execution_options(**{SQLITE_BEGIN_OPTION: NO_BEGIN})
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only; it takes no write lock on SQLite."""
        async with self._sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
