"""The demo seed: identity, then the platform data that hangs off it, then the engine store. Idempotent."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction


@transaction.atomic
def seed_demo(*, dashboard_url: str | None = None) -> str:
    """Create (or bring up to date) every demo object; returns a one-line summary.

    `dashboard_url` is where the dashboard is served (its OAuth redirect URI is
    ``{dashboard_url}/accounts/callback``); it defaults to ``settings.ARTHUR_HOST`` because the demo
    serves both from one address.
    """
    from controlplane.identity.seed import seed_identity
    from controlplane.seed_platform import seed_platform
    from dataplane.seed import seed_engine

    identity = seed_identity(dashboard_url=dashboard_url or settings.ARTHUR_HOST)
    platform = seed_platform()
    # The engine store holds the same demo tasks, rules and keys the control plane caches, so a
    # sync, patch or validate of a demo task works from the start.
    engine = seed_engine()
    return "; ".join(part for part in (identity, platform, engine) if part)
