"""`manage.py seed_demo`: the demo organization, people, clients and projects (idempotent)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Create Local Arthur's demo data (idempotent). Refuses outside demo/test mode unless --force."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="seed even in production mode")
        parser.add_argument(
            "--dashboard-url",
            default=None,
            help="where the dashboard is served, if not at ARTHUR_HOST (its OAuth redirect URI is registered)",
        )

    def handle(self, *args, force: bool, dashboard_url: str | None, **options) -> None:
        if not settings.ARTHUR_EMBEDDED:
            raise CommandError("seed_demo needs Local Arthur (ARTHUR_EMBEDDED=true).")
        if settings.MODE == "production" and not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates well-known demo passwords; refusing in production (use --force)."
            )
        from controlplane.seed import seed_demo

        summary = seed_demo(dashboard_url=dashboard_url.rstrip("/") if dashboard_url else None)
        if options.get("verbosity", 1) >= 1:
            self.stdout.write(f"Demo data ready: {summary}")
