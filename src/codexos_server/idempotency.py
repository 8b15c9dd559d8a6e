"""The digest that tells a retried request from an Idempotency-Key reused for another one.
Jobs, agent runs, workflow runs and ledger transactions all store it beside their key."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def request_hash(*parts: Any) -> str:
    """A stable SHA-256 of what a request asks for (JSON with sorted keys)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
