"""User accounts: creation, profiles, deletion, and admin changes."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from codexos_server.auth.models import ApiKey, AuthSession
from codexos_server.auth.passwords import PasswordHasher, check_password_policy
from codexos_server.auth.principal import Principal
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import Conflict, NotFound
from codexos_server.pagination import Page, PageParams, paginate
from codexos_server.users.models import Tier, User, UserRole
from codexos_server.users.schemas import UserAdminUpdate, UserOut, UserUpdate, normalise_email
from codexos_server.workspaces.models import Invitation
from codexos_server.workspaces.service import create_personal_workspace, release_user


class UserService:
    """Accounts. Creating one also creates its personal workspace."""

    def __init__(self, db: Database, hasher: PasswordHasher) -> None:
        self.db = db
        self.hasher = hasher

    async def create(
        self, email: str, password: str, name: str | None = None, role: UserRole = UserRole.USER
    ) -> UserOut:
        """Register an account.

        Raises: ValidationFailed (password policy), Conflict (email taken).
        """
        check_password_policy(password)
        email = normalise_email(email)
        password_hash = await self.hasher.hash(password)
        try:
            async with self.db.transaction() as session:
                if await session.scalar(select(User.id).where(User.email == email)):
                    raise Conflict("An account with this email already exists")
                user = User(email=email, name=name, password_hash=password_hash, role=role.value)
                session.add(user)
                await session.flush()
                await create_personal_workspace(session, user)
                return UserOut.model_validate(user)
        except IntegrityError as exc:  # a concurrent registration won the race
            raise Conflict("An account with this email already exists") from exc

    async def get_profile(self, actor: Principal) -> UserOut:
        # A Core read: this is the hottest read of the API and the ORM adds nothing here.
        async with self.db.read_connection() as conn:
            row = (
                await conn.execute(select(User.__table__).where(User.id == actor.user_id))
            ).first()
        if row is None:
            raise NotFound("user", actor.user_id)
        return UserOut.model_validate(row._mapping)

    async def update_profile(self, actor: Principal, body: UserUpdate) -> UserOut:
        """Raises: Conflict if the new email belongs to another account."""
        try:
            async with self.db.transaction() as session:
                user = await session.get_one(User, actor.user_id)
                if body.email is not None and body.email != user.email:
                    if await session.scalar(select(User.id).where(User.email == body.email)):
                        raise Conflict("An account with this email already exists")
                    user.email = body.email
                if body.name is not None:
                    user.name = body.name
                await session.flush()
                return UserOut.model_validate(user)
        except IntegrityError as exc:
            raise Conflict("An account with this email already exists") from exc

    async def delete_account(self, actor: Principal) -> None:
        """Delete the caller's account: workspaces they alone use are deleted, every session
        and key is revoked, and the user row is anonymised (so records that others keep, such
        as ledger entries, stay consistent). Raises: Conflict if they own a shared workspace."""
        async with self.db.transaction() as session:
            user = await session.get_one(User, actor.user_id)
            await release_user(session, user.id)
            await session.execute(delete(ApiKey).where(ApiKey.user_id == user.id))
            await session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
            await session.execute(delete(Invitation).where(Invitation.email == user.email))
            user.email = f"deleted+{user.id}@deleted.invalid"
            user.name = None
            user.password_hash = None
            user.is_disabled = True
            user.deleted_at = utcnow()

    async def list_users(self, actor: Principal, params: PageParams) -> Page[UserOut]:
        """Every account (admins only)."""
        actor.require_admin()
        async with self.db.read() as session:
            stmt = select(User).where(User.deleted_at.is_(None))
            rows, cursor = await paginate(session, stmt, params, User.created_at, User.id)
            return Page(items=[UserOut.model_validate(r[0]) for r in rows], next_cursor=cursor)

    async def get_user(self, actor: Principal, user_id: str) -> UserOut:
        """One account (admins only)."""
        actor.require_admin()
        async with self.db.read() as session:
            user = await session.get(User, user_id)
            if user is None or user.deleted_at is not None:
                raise NotFound("user", user_id)
            return UserOut.model_validate(user)

    async def admin_update(self, actor: Principal, user_id: str, body: UserAdminUpdate) -> UserOut:
        """Change a user's role, tier, custom limit or disabled flag (admins only). Disabling
        takes effect on the user's very next request, for tokens and keys alike."""
        actor.require_admin()
        async with self.db.transaction() as session:
            user = await session.get(User, user_id)
            if user is None or user.deleted_at is not None:
                raise NotFound("user", user_id)
            changes = body.model_dump(exclude_unset=True)
            if user.id == actor.user_id and (
                changes.get("role") == UserRole.USER or changes.get("is_disabled")
            ):
                raise Conflict("Admins cannot demote or disable themselves")
            for field, value in changes.items():
                setattr(user, field, value.value if hasattr(value, "value") else value)
            await session.flush()
            return UserOut.model_validate(user)

    async def set_role_by_email(self, email: str, role: UserRole) -> UserOut:
        """Operator command (CLI): change a role without an actor."""
        return await self._operator_update(email, role=role.value)

    async def set_tier_by_email(self, email: str, tier: Tier, limit: int | None) -> UserOut:
        """Operator command (CLI): change a tier and optional custom hourly limit."""
        return await self._operator_update(email, tier=tier.value, rate_limit_per_hour=limit)

    async def _operator_update(self, email: str, **values: object) -> UserOut:
        async with self.db.transaction() as session:
            user = await session.scalar(select(User).where(User.email == normalise_email(email)))
            if user is None:
                raise NotFound("user", email)
            for field, value in values.items():
                setattr(user, field, value)
            await session.flush()
            return UserOut.model_validate(user)
