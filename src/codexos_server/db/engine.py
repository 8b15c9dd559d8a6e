"""Engine creation for SQLite (embedded default) and PostgreSQL.

sqlite-vec needs a SQLite that can load extensions. Where the stdlib `sqlite3` cannot
(pyenv and many macOS builds), `pysqlite3-binary` supplies one; aiosqlite runs whichever
module on its worker thread and SQLAlchemy is told to use that module's exception classes,
so an IntegrityError is still an IntegrityError.
"""

from __future__ import annotations

import collections
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

from codexos_server.log import get_logger

log = get_logger("codexos.db")

SQLITE_BEGIN_OPTION = "codexos_sqlite_begin"
NO_BEGIN = "none"  # autocommit reads: every statement is its own snapshot

_DBAPI_NAMES = (
    "DatabaseError",
    "Error",
    "IntegrityError",
    "NotSupportedError",
    "OperationalError",
    "ProgrammingError",
    "sqlite_version",
    "sqlite_version_info",
)


def sqlite_module() -> ModuleType:
    """The SQLite DB-API module to use: the stdlib one if it can load extensions."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        import pysqlite3.dbapi2 as pysqlite3

        return pysqlite3  # type: ignore[no-any-return]
    except ImportError:
        return sqlite3


class _OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """Runs a statement in ONE trip to aiosqlite's thread: open a cursor, execute, fetch
    everything, close. SQLAlchemy's own adapter makes four trips (cursor, execute, fetchall,
    close), and on a busy core each trip is a thread switch that costs more than the query."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        raw = self._connection._conn

        def run() -> tuple[Any, list[Any], int, int | None]:
            cursor = raw.cursor()
            try:
                cursor.execute(operation, () if parameters is None else parameters)
                rows = cursor.fetchall() if cursor.description else []
                return cursor.description, rows, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        async with self._adapt_connection._execute_mutex:
            result = await self._connection._execute(run)
        self._description, rows, self._rowcount, self._lastrowid = result
        self._rows = collections.deque(rows)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        raw = self._connection._conn

        def run() -> tuple[int, int | None]:
            cursor = raw.cursor()
            try:
                cursor.executemany(operation, seq_of_parameters)
                return cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        async with self._adapt_connection._execute_mutex:
            self._rowcount, self._lastrowid = await self._connection._execute(run)

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()


class _Connection(AsyncAdapt_aiosqlite_connection):
    """Skips the commit/rollback trip when no transaction is open (a pool check-in after a
    committed session always rolls back: a wasted trip per request otherwise)."""

    __slots__ = ()
    _cursor_cls = _OneHopCursor  # type: ignore[assignment]  # a subclass; mypy sees a ClassVar clash

    def _in_transaction(self) -> bool:
        conn = self._connection._connection
        return conn is not None and bool(conn.in_transaction)

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()


class _AiosqliteDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite adapter, taking exception classes from the real driver module
    and using the cheaper cursor and connection above."""

    def _init_dbapi_attributes(self) -> None:
        super()._init_dbapi_attributes()
        for name in _DBAPI_NAMES:
            setattr(self, name, getattr(self.sqlite, name))

    def connect(self, *arg: Any, **kw: Any) -> _Connection:
        creator = kw.pop("async_creator_fn")
        return _Connection(self, await_(creator(*arg, **kw)))


def _load_sqlite_vec(conn: Any) -> bool:
    if not hasattr(conn, "enable_load_extension"):
        return False
    try:
        import sqlite_vec

        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
    except (ImportError, AttributeError, sqlite3.Error, OSError) as exc:
        log.warning("sqlite-vec could not be loaded", error=str(exc))
        return False
    return True


def _sqlite_engine(url: str, echo: bool, pool_size: int) -> AsyncEngine:
    module = sqlite_module()
    database = make_url(url).database or ":memory:"
    if database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)

    def connect() -> Any:
        conn = module.connect(database, check_same_thread=False, isolation_level=None)
        _load_sqlite_vec(conn)
        return conn

    async def creator() -> aiosqlite.Connection:
        conn = aiosqlite.Connection(connect, 64)
        conn._thread.daemon = True  # never keep the interpreter alive at exit
        return await conn

    # The URL handed to SQLAlchemy has no path (the creator opens the file), so the pool
    # class must be explicit: left alone, SQLAlchemy would take it for :memory: and share ONE
    # connection between all sessions (a StaticPool).
    pool: dict[str, Any] = (
        {"poolclass": NullPool}
        if database == ":memory:"
        else {"poolclass": AsyncAdaptedQueuePool, "pool_size": pool_size, "max_overflow": 0}
    )
    engine = create_async_engine(
        "sqlite+aiosqlite://",
        async_creator=creator,
        module=_AiosqliteDBAPI(aiosqlite, module),
        echo=echo,
        **pool,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        # The RAG index's triggers write to sqlite-vec virtual tables, which needs it on (the
        # default, but some builds turn it off).
        cursor.execute("PRAGMA trusted_schema=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Write transactions BEGIN IMMEDIATE: they take the write lock up front and queue on
        # busy_timeout, instead of failing with SQLITE_BUSY when a reader later upgrades.
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode != NO_BEGIN:
            conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def create_engine(url: str, *, echo: bool = False, pool_size: int = 20) -> AsyncEngine:
    """Create the async engine for a `sqlite+aiosqlite://` or `postgresql+asyncpg://` URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo, pool_size)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    # No overflow: under a burst, callers wait for one of `pool_size` warm connections
    # instead of opening and closing extra ones (a PostgreSQL connect costs more than the
    # query). Recycling replaces the per-checkout pre-ping round trip.
    return create_async_engine(
        parsed, echo=echo, pool_size=pool_size, max_overflow=0, pool_timeout=30, pool_recycle=1800
    )


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"
