"""Engine creation for SQLite (embedded default) and PostgreSQL.

sqlite-vec needs a SQLite that can load extensions. Where the stdlib `sqlite3` cannot
(pyenv and many macOS builds), `pysqlite3-binary` supplies one; aiosqlite runs whichever
module on its worker thread and SQLAlchemy is told to use that module's exception classes,
so an IntegrityError is still an IntegrityError.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool

from codexos_server.log import get_logger

log = get_logger("codexos.db")

SQLITE_BEGIN_OPTION = "codexos_sqlite_begin"

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


class _AiosqliteDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite adapter, taking exception classes from the real driver module."""

    def _init_dbapi_attributes(self) -> None:
        super()._init_dbapi_attributes()
        for name in _DBAPI_NAMES:
            setattr(self, name, getattr(self.sqlite, name))


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
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Write transactions BEGIN IMMEDIATE: they take the write lock up front and queue on
        # busy_timeout, instead of failing with SQLITE_BUSY when a reader later upgrades.
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
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
