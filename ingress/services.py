"""What every route of the three APIs (ingress/api.py, ingress/judge0, ingress/piston) shares:
the Services built once per app, the rate-limit budget, and the API-key comparison.

It lives here, below the routes and the composition root (ingress/app.py), so that routes
import it and the app imports the routes, and nothing imports back up: the acyclic contract in
pyproject.toml's [tool.importlinter] keeps it so.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import cast

import redis
from flask import current_app, g, request

from eventing.store import JobStore
from eventing.triggers import Trigger
from ingress.backlog import Depths
from ingress.catalog import LanguageCatalog
from ingress.health import Prober
from ingress.ratelimit import RateLimits
from ingress.settings import IngressSettings
from ingress.waiting import Listener, Waiters

EXTENSION = "sentinel"  # the key of app.extensions holding the Services


@dataclass(frozen=True)
class Services:
    """What the routes use, built once per app by create_app (kept in app.extensions)."""

    settings: IngressSettings
    redis: redis.Redis
    store: JobStore
    triggers: list[Trigger]
    catalog: LanguageCatalog
    limits: RateLimits
    waiters: Waiters
    listener: Listener
    depths: Depths
    prober: Prober


def services() -> Services:
    """The current app's services (inside a request or an app context)."""
    return cast(Services, current_app.extensions[EXTENSION])


def spend(budget: str, cost: int = 1) -> None:
    """Charge the client's rate-limit budget (ApiError 429 when spent): the client is its API
    key when it sent a valid one, else its address (ingress/app.py)."""
    client = str(g.get("client") or request.remote_addr or "unknown")
    quota = services().limits.hit(budget, client, cost)
    if quota is not None:
        g.quota = quota


def key_matches(given: str, accepted: frozenset[str]) -> bool:
    """Compare against every key in constant time (no early exit that leaks which matched)."""
    matches = [hmac.compare_digest(given.encode(), key.encode()) for key in accepted]
    return bool(given) and any(matches)
