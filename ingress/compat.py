"""What both drop-in APIs (ingress/judge0, ingress/piston) share with the native routes: the
services, the rate-limit budget, and validation of a built request at the edge.
"""

from __future__ import annotations

from typing import cast

from flask import current_app, g, request

from ingress.app import Services


def services() -> Services:
    """The app's services (built once by create_app)."""
    return cast(Services, current_app.extensions["sentinel"])


def spend(budget: str, cost: int = 1) -> None:
    """Charge the client's rate-limit budget, as the native routes do (ApiError 429 when spent)."""
    quota = services().limits.hit(budget, request.remote_addr or "unknown", cost)
    if quota is not None:
        g.quota = quota
