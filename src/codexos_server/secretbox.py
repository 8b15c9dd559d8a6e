"""Encryption at rest for secrets we must be able to read back (provider API keys, tool
headers): Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from the server secret."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, secret_key: str, purpose: str = "codexos-secrets-v1") -> None:
        digest = hashlib.sha256(f"{purpose}:{secret_key}".encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        """Raises: ValueError if the token was not sealed with this server's secret key."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: the server secret key changed") from exc
