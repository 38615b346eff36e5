"""Rate limits per client: the `limits` library's moving window, kept in Redis.

A moving window (each hit remembered with its time, entries older than the window forgotten) is
exact at the boundary, unlike a fixed window that lets a client spend twice its budget across a
window's edge; Redis makes the count shared by every gunicorn worker and ingress replica.

Two budgets: submissions (each submitted job costs one, so a batch of 5 costs 5) and reads
(status and result polling). /health, /load, /metrics and /openapi.json are not limited: probes
and scrapers must never be locked out. The client is its API key when it sent a valid one, else
`request.remote_addr` after ProxyFix, i.e. the address the configured number of trusted proxies
vouch for (ingress/app.py). Defaults and why: ingress/settings.py.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from ingress.errors import ApiError


@dataclass(frozen=True)
class Quota:
    """What the X-RateLimit-* headers say after a hit."""

    limit: int
    remaining: int
    reset: float  # unix time when the oldest counted hit leaves the window

    def headers(self) -> dict[str, str]:
        """X-RateLimit-Limit, -Remaining and -Reset."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset)),
        }


class RateLimits:
    """The submission and read budgets; an empty spec turns that budget off."""

    def __init__(
        self, redis_url: str, key_prefix: str, submit: str, read: str, timeout_s: float = 5.0
    ) -> None:
        storage = RedisStorage(
            redis_url,
            key_prefix=f"{key_prefix}:ratelimit",
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._budgets: dict[str, list[RateLimitItem]] = {
            "submit": parse_many(submit) if submit else [],
            "read": parse_many(read) if read else [],
        }

    def hit(self, budget: str, client: str, cost: int = 1) -> Quota | None:
        """Spend `cost` of `client`'s `budget`; the quota left, or ApiError(429) when spent.

        None when the budget is off. With several limits ("10/second;500/hour"), all must have
        room; the headers describe the tightest.
        """
        items = self._budgets[budget]
        if not items:
            return None
        for item in items:
            # hit() decides, in one Lua script (check and add at once), so concurrent requests
            # cannot all pass and then overshoot the limit together; a refused hit adds nothing.
            # No test() before it: it asked the same question in a round trip of its own (a
            # third of this method's cost per limit) and spared no limit a charge (the limits
            # before this one were charged either way).
            if not self._limiter.hit(item, budget, client, cost=cost):
                raise self._refusal(item, budget, client)
        return min((self._quota(item, budget, client) for item in items), key=_tightness)

    def _refusal(self, item: RateLimitItem, budget: str, client: str) -> ApiError:
        quota = self._quota(item, budget, client)
        retry_after = max(1, math.ceil(quota.reset - time.time()))
        return ApiError(
            429,
            f"rate limit exceeded: {item.amount} per {item.multiples} "
            f"{item.GRANULARITY.name}; retry in {retry_after}s",
            headers={**quota.headers(), "Retry-After": str(retry_after)},
        )

    def _quota(self, item: RateLimitItem, budget: str, client: str) -> Quota:
        stats = self._limiter.get_window_stats(item, budget, client)
        return Quota(item.amount, max(0, stats.remaining), stats.reset_time)


def _tightness(quota: Quota) -> tuple[int, float]:
    return quota.remaining, quota.reset
