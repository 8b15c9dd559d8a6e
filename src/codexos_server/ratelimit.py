"""Rate limiting over the `limits` library: in memory by default, Redis when configured,
so several API nodes share one budget."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerHour, parse
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from codexos_server.config import Settings
from codexos_server.errors import RateLimitExceeded


@dataclass(frozen=True, slots=True)
class RateLimitStatus:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window resets

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset_after).encode()),
        ]


def storage_uri(redis_url: str | None) -> str:
    """Map `redis://…` (as users write it) to the `limits` async storage URI."""
    if not redis_url:
        return "async+memory://"
    return redis_url if redis_url.startswith("async+") else f"async+{redis_url}"


class RateLimiter:
    """Fixed-window counters keyed by arbitrary identifiers."""

    def __init__(self, redis_url: str | None, namespace: str = "codexos") -> None:
        uri = storage_uri(redis_url)
        options = {"key_prefix": namespace, "implementation": "redispy"} if redis_url else {}
        storage = storage_from_string(uri, **options)
        assert isinstance(storage, Storage)  # an async+ URI always gives an async storage
        self.storage = storage
        self._strategy = FixedWindowRateLimiter(self.storage)

    async def hit(self, item: RateLimitItem, *identifiers: str) -> RateLimitStatus:
        """Consume one unit and report what is left.

        The fixed-window strategy's hit plus its window stats, in two storage calls instead of
        three (one round trip fewer per request on Redis): the count the increment returns is
        the one the stats would read back.
        """
        key = item.key_for(*identifiers)
        count = await self.storage.incr(key, item.get_expiry())
        reset_at = await self.storage.get_expiry(key)
        reset_after = max(0, math.ceil(reset_at - time.time()))
        return RateLimitStatus(
            count <= item.amount, item.amount, max(0, item.amount - count), reset_after
        )

    async def peek(self, item: RateLimitItem, *identifiers: str) -> RateLimitStatus:
        """Report without consuming."""
        allowed = await self._strategy.test(item, *identifiers)
        return await self._status(item, identifiers, allowed)

    async def _status(
        self, item: RateLimitItem, identifiers: tuple[str, ...], allowed: bool
    ) -> RateLimitStatus:
        stats = await self._strategy.get_window_stats(item, *identifiers)
        reset_after = max(0, math.ceil(stats.reset_time - time.time()))
        return RateLimitStatus(allowed, item.amount, stats.remaining, reset_after)

    async def clear(self, item: RateLimitItem, *identifiers: str) -> None:
        await self._strategy.clear(item, *identifiers)

    async def reset_all(self) -> None:
        await self.storage.reset()


class RequestLimits:
    """The per-hour request budget: by tier for users, by IP for anonymous callers."""

    def __init__(self, settings: Settings, limiter: RateLimiter) -> None:
        self.enabled = settings.rate_limit_enabled
        self.limiter = limiter
        self._tiers = {
            "free": settings.rate_limit_free,
            "pro": settings.rate_limit_pro,
            "enterprise": settings.rate_limit_enterprise,
        }
        self._anonymous = RateLimitItemPerHour(settings.rate_limit_anonymous)
        self._items: dict[int, RateLimitItem] = {}

    def limit_for(self, tier: str, custom: int | None) -> int:
        if tier == "enterprise" and custom:
            return custom
        return self._tiers.get(tier, self._tiers["free"])

    def _item(self, amount: int) -> RateLimitItem:
        item = self._items.get(amount)
        if item is None:
            item = self._items[amount] = RateLimitItemPerHour(amount)
        return item

    async def hit_user(self, user_id: str, tier: str, custom: int | None) -> RateLimitStatus:
        return await self.limiter.hit(self._item(self.limit_for(tier, custom)), "user", user_id)

    async def hit_anonymous(self, ip: str) -> RateLimitStatus:
        return await self.limiter.hit(self._anonymous, "ip", ip)


class LoginThrottle:
    """Login attempts: every attempt counts per IP, failed ones count per account."""

    def __init__(self, settings: Settings, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.per_account = parse(settings.login_limit_per_account)
        self.per_ip = parse(settings.login_limit_per_ip)

    async def check(self, email: str, ip: str) -> None:
        """Raises: RateLimitExceeded when either budget is spent."""
        by_ip = await self.limiter.hit(self.per_ip, "login-ip", ip)
        if not by_ip.allowed:
            raise RateLimitExceeded("Too many login attempts from this address", by_ip.reset_after)
        by_account = await self.limiter.peek(self.per_account, "login-account", email)
        if not by_account.allowed:
            raise RateLimitExceeded(
                "Too many failed login attempts for this account", by_account.reset_after
            )

    async def record_failure(self, email: str) -> None:
        await self.limiter.hit(self.per_account, "login-account", email)

    async def record_success(self, email: str) -> None:
        await self.limiter.clear(self.per_account, "login-account", email)
