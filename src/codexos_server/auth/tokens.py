"""Access JWTs and opaque random secrets (refresh tokens, API keys, invitations)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from codexos_server.errors import AuthenticationFailed

JWT_ALGORITHM = "HS256"
JWT_ISSUER = "codexos"
API_KEY_PREFIX = "cxo_"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_api_key() -> str:
    return f"{API_KEY_PREFIX}{secrets.token_urlsafe(30)}"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    session_id: str | None
    expires_at: datetime


class TokenCodec:
    """Signs and verifies access JWTs with the server's secret key (HS256 only)."""

    def __init__(self, secret_key: str, access_ttl_seconds: int) -> None:
        self._key = secret_key
        self.access_ttl = timedelta(seconds=access_ttl_seconds)

    def issue_access(self, user_id: str, session_id: str) -> tuple[str, int]:
        now = datetime.now(UTC)
        claims = {
            "iss": JWT_ISSUER,
            "sub": user_id,
            "sid": session_id,
            "typ": "access",
            "iat": now,
            "exp": now + self.access_ttl,
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, self._key, algorithm=JWT_ALGORITHM)
        return token, int(self.access_ttl.total_seconds())

    def verify_access(self, token: str) -> AccessClaims:
        """Raises: AuthenticationFailed for a bad signature, an expired token, another
        algorithm (including `none`) or a token that is not an access token."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[JWT_ALGORITHM],
                issuer=JWT_ISSUER,
                options={"require": ["exp", "iat", "sub", "typ"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationFailed("Access token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthenticationFailed("Invalid access token") from exc
        if claims.get("typ") != "access" or not isinstance(claims.get("sub"), str):
            raise AuthenticationFailed("Invalid access token")
        return AccessClaims(
            user_id=claims["sub"],
            session_id=claims.get("sid"),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
