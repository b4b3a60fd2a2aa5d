"""The demo seed: identity first, then the platform data that hangs off it. Idempotent."""

from __future__ import annotations

from django.db import transaction


@transaction.atomic
def seed_demo() -> str:
    """Create (or bring up to date) every demo object; returns a one-line summary."""
    from controlplane.identity.seed import seed_identity

    identity = seed_identity()
    return identity
