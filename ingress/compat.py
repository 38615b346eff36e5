"""What the routes of all three APIs (ingress/api.py, ingress/judge0, ingress/piston) share:
the services and the rate-limit budget.
"""

from __future__ import annotations

from typing import cast

from flask import current_app, g, request

from ingress.app import Services


def services() -> Services:
    """The app's services (built once by create_app)."""
    return cast(Services, current_app.extensions["sentinel"])


def spend(budget: str, cost: int = 1) -> None:
    """Charge the client's rate-limit budget (ApiError 429 when spent): the client is its API
    key when it sent a valid one, else its address (ingress/app.py)."""
    client = str(g.get("client") or request.remote_addr or "unknown")
    quota = services().limits.hit(budget, client, cost)
    if quota is not None:
        g.quota = quota
