"""The `codexos` command: serve, migrate, and operator (admin) commands."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
import uvicorn
from rich.console import Console

from codexos_server.config import Settings
from codexos_server.container import build_container
from codexos_server.db.database import Database
from codexos_server.db.migrate import current_revision, head_revision, upgrade
from codexos_server.errors import AppError
from codexos_server.jobs.worker import run_worker
from codexos_server.log import configure_logging
from codexos_server.monitoring.prometheus import multiprocess_directory
from codexos_server.users.models import Tier, UserRole

app = typer.Typer(help="CodexOS: a self-hosted AI agent platform.", no_args_is_help=True)
admin = typer.Typer(help="Operator commands (run on the server host).", no_args_is_help=True)
app.add_typer(admin, name="admin")
console = Console()
T = TypeVar("T")


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(factory())  # type: ignore[arg-type]
    except AppError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8001,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development)")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Serve the API on http://HOST:PORT/api/v1."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)

    async def check() -> tuple[str | None, str | None]:
        db = Database(settings.resolved_database_url())
        try:
            return await current_revision(db), head_revision()
        finally:
            await db.dispose()

    current, head = asyncio.run(check())
    if current != head:
        console.print(
            f"[yellow]The database is at revision {current or 'empty'}, not {head}: "
            "run `codexos migrate` first.[/yellow]"
        )
        raise typer.Exit(1)
    # Several workers share their Prometheus metrics through a directory (docs/metrics.md).
    with multiprocess_directory(workers if settings.monitoring_enabled else 1):
        uvicorn.run(
            "codexos_server.asgi:app",
            host=host,
            port=port,
            reload=reload,
            workers=workers,
            log_config=None,
            proxy_headers=True,
        )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=1000, help="Jobs run at once")] = 4,
) -> None:
    """Run background jobs (agent runs, ingestion, workflow steps) until stopped."""
    settings = Settings().model_copy(update={"job_concurrency": concurrency})
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run_worker(settings))


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema to the latest revision."""
    settings = Settings()

    async def go() -> str | None:
        db = Database(settings.resolved_database_url())
        try:
            await upgrade(db)
            return await current_revision(db)
        finally:
            await db.dispose()

    revision = _run(go)
    console.print(f"[green]database at revision {revision}[/green] ({_redacted(settings)})")


def _redacted(settings: Settings) -> str:
    url = settings.resolved_database_url()
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


@admin.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="Email address")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Password")
    ],
    role: Annotated[UserRole, typer.Option(help="user or admin")] = UserRole.USER,
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
) -> None:
    """Create an account (with its personal workspace)."""
    container = build_container(Settings())

    async def go() -> str:
        try:
            user = await container.users.create(email, password, name, role)
            return user.id
        finally:
            await container.close()

    user_id = _run(go)
    console.print(f"[green]created {role.value}[/green] {email} ({user_id})")


@admin.command("set-role")
def set_role(
    email: Annotated[str, typer.Option(help="Email address")],
    role: Annotated[UserRole, typer.Option(help="user or admin")],
) -> None:
    """Change a user's role."""
    container = build_container(Settings())

    async def go() -> None:
        try:
            await container.users.set_role_by_email(email, role)
        finally:
            await container.close()

    _run(go)
    console.print(f"[green]{email} is now {role.value}[/green]")


@admin.command("set-tier")
def set_tier(
    email: Annotated[str, typer.Option(help="Email address")],
    tier: Annotated[Tier, typer.Option(help="free, pro or enterprise")],
    limit: Annotated[
        int | None, typer.Option(help="Custom requests per hour (enterprise)", min=1)
    ] = None,
) -> None:
    """Change a user's rate-limit tier."""
    container = build_container(Settings())

    async def go() -> None:
        try:
            await container.users.set_tier_by_email(email, tier, limit)
        finally:
            await container.close()

    _run(go)
    suffix = f" ({limit}/hour)" if limit else ""
    console.print(f"[green]{email} is now on the {tier.value} tier{suffix}[/green]")


def main() -> None:
    app()
