"""Login sessions: password login, rotating refresh tokens with reuse detection, logout,
and password changes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from codexos_server.auth.models import AuthSession, RefreshToken
from codexos_server.auth.passwords import PasswordHasher, check_password_policy
from codexos_server.auth.principal import AuthMethod, Principal
from codexos_server.auth.schemas import PasswordChange, TokenPair
from codexos_server.auth.tokens import TokenCodec, random_token, sha256_hex
from codexos_server.db.base import utcnow
from codexos_server.db.database import Database
from codexos_server.errors import AuthenticationFailed, AuthorizationFailed
from codexos_server.ratelimit import LoginThrottle
from codexos_server.users.models import User


class AuthService:
    """Issues and revokes the credentials of interactive sessions."""

    def __init__(
        self,
        db: Database,
        hasher: PasswordHasher,
        codec: TokenCodec,
        throttle: LoginThrottle,
        refresh_ttl_seconds: int,
    ) -> None:
        self.db = db
        self.hasher = hasher
        self.codec = codec
        self.throttle = throttle
        self.refresh_ttl = timedelta(seconds=refresh_ttl_seconds)

    async def login(self, email: str, password: str, ip: str, user_agent: str | None) -> TokenPair:
        """Exchange email and password for tokens.

        Raises: RateLimitExceeded (too many attempts), AuthenticationFailed.
        """
        await self.throttle.check(email, ip)
        async with self.db.read() as session:
            user = await session.scalar(select(User).where(User.email == email))
        ok = await self.hasher.verify(user.password_hash if user else None, password)
        if not ok or user is None:
            await self.throttle.record_failure(email)
            raise AuthenticationFailed("Invalid email or password")
        if user.is_disabled or user.deleted_at is not None:
            raise AuthenticationFailed("This account is disabled")
        await self.throttle.record_success(email)
        async with self.db.transaction() as session:
            auth_session = AuthSession(
                user_id=user.id,
                expires_at=utcnow() + self.refresh_ttl,
                ip=ip[:64],
                user_agent=(user_agent or "")[:512] or None,
            )
            session.add(auth_session)
            await session.flush()
            return await self._issue(session, auth_session)

    async def _issue(self, session: AsyncSession, auth_session: AuthSession) -> TokenPair:
        refresh = random_token()
        session.add(
            RefreshToken(
                session_id=auth_session.id,
                token_hash=sha256_hex(refresh),
                expires_at=auth_session.expires_at,
            )
        )
        access, expires_in = self.codec.issue_access(auth_session.user_id, auth_session.id)
        return TokenPair(access_token=access, expires_in=expires_in, refresh_token=refresh)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token: the old one is spent and a new pair is issued.

        Presenting a spent token again is treated as theft: the whole session (every token
        rotated from the same login) is revoked.
        Raises: AuthenticationFailed.
        """
        async with self.db.transaction() as session:
            row = (
                await session.execute(
                    select(RefreshToken, AuthSession, User)
                    .join(AuthSession, AuthSession.id == RefreshToken.session_id)
                    .join(User, User.id == AuthSession.user_id)
                    .where(RefreshToken.token_hash == sha256_hex(refresh_token))
                )
            ).first()
            if row is None:
                raise AuthenticationFailed("Invalid refresh token")
            token, auth_session, user = row
            now = utcnow()
            if auth_session.revoked_at is not None:
                raise AuthenticationFailed("This session has been revoked")
            if token.expires_at <= now:
                raise AuthenticationFailed("Refresh token has expired")
            if user.is_disabled or user.deleted_at is not None:
                raise AuthenticationFailed("This account is disabled")
            spent = await session.execute(
                update(RefreshToken)
                .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
                .values(used_at=now)
            )
            if spent.rowcount == 1:  # type: ignore[attr-defined]
                return await self._issue(session, auth_session)
            # Reuse: commit the revocation, then refuse.
            auth_session.revoked_at = now
            auth_session.revoked_reason = "refresh_token_reuse"
        raise AuthenticationFailed(
            "Refresh token was already used; the session has been revoked for safety"
        )

    async def logout(self, actor: Principal | None, refresh_token: str | None) -> None:
        """Revoke the session of the presented refresh token and/or of the calling token."""
        async with self.db.transaction() as session:
            session_ids: set[str] = set()
            if actor is not None and actor.session_id:
                session_ids.add(actor.session_id)
            if refresh_token:
                sid = await session.scalar(
                    select(RefreshToken.session_id).where(
                        RefreshToken.token_hash == sha256_hex(refresh_token)
                    )
                )
                if sid is None:
                    raise AuthenticationFailed("Invalid refresh token")
                session_ids.add(sid)
            if not session_ids:
                raise AuthenticationFailed(
                    "Nothing to log out: send a refresh token or a session's access token"
                )
            await session.execute(
                update(AuthSession)
                .where(AuthSession.id.in_(session_ids), AuthSession.revoked_at.is_(None))
                .values(revoked_at=utcnow(), revoked_reason="logout")
            )

    async def change_password(self, actor: Principal, body: PasswordChange) -> None:
        """Change the password and revoke every other session of the user.

        Raises: AuthorizationFailed (API keys cannot), AuthenticationFailed (wrong current
        password), ValidationFailed (policy).
        """
        if actor.method is not AuthMethod.SESSION:
            raise AuthorizationFailed(
                "Changing the password needs a logged-in session, not an API key"
            )
        check_password_policy(body.new_password)
        async with self.db.read() as session:
            current_hash = await session.scalar(
                select(User.password_hash).where(User.id == actor.user_id)
            )
        if not await self.hasher.verify(current_hash, body.current_password):
            raise AuthenticationFailed("Current password is incorrect")
        new_hash = await self.hasher.hash(body.new_password)
        async with self.db.transaction() as session:
            await session.execute(
                update(User).where(User.id == actor.user_id).values(password_hash=new_hash)
            )
            await session.execute(
                update(AuthSession)
                .where(
                    AuthSession.user_id == actor.user_id,
                    AuthSession.id != actor.session_id,
                    AuthSession.revoked_at.is_(None),
                )
                .values(revoked_at=utcnow(), revoked_reason="password_changed")
            )
