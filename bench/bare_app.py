"""The baseline of bench_users_me: a bare FastAPI app, no middleware, no auth, no database.

It answers `GET /api/v1/users/me` with the JSON body given in the `BENCH_BODY` environment
variable (the bench fills it with the real body our server returned), so both servers send
the same bytes and the difference is what our stack costs.
"""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi import FastAPI

BODY: dict[str, Any] = json.loads(os.environ.get("BENCH_BODY", "{}"))

app = FastAPI()


@app.get("/api/v1/users/me")
async def users_me() -> dict[str, Any]:
    return BODY
