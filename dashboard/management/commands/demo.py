"""`manage.py demo`: the whole product on one port, ready to click through.

Migrates, seeds the demo data (idempotent), then serves the dashboard and Local Arthur on
127.0.0.1:PORT with a threaded WSGI server and runs the data-plane agent in the same process.
"""

from __future__ import annotations

import os
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler, get_internal_wsgi_application


class QuietHandler(WSGIRequestHandler):
    """Log only failed requests: HTMX polling would otherwise flood the terminal."""

    def log_request(self, code="-", size="-") -> None:  # noqa: D102
        if str(code).startswith(("4", "5")):
            super().log_request(code, size)


class Command(BaseCommand):
    help = "Run the demo: Local Arthur seeded, the dashboard and the data-plane agent served on one port."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--no-agent", action="store_true", help="do not start the data-plane agent")

    def handle(self, *args, port: int, host: str, no_agent: bool, **options) -> None:
        address = f"http://{host}:{port}"
        if not os.environ.get("ARTHUR_HOST"):
            # Local Arthur is served from this very process: the dashboard talks to itself over HTTP.
            settings.ARTHUR_HOST = address
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        if settings.ARTHUR_EMBEDDED:
            call_command("seed_demo", verbosity=1)
        stop = threading.Event()
        if settings.ARTHUR_EMBEDDED and not no_agent:
            self._start_agent(stop)
        self.stdout.write(self.style.SUCCESS(f"Arthur Tasks dashboard: {address}/"))
        self.stdout.write(f"Arthur host (API, sign-in): {settings.ARTHUR_HOST}")
        if settings.ARTHUR_EMBEDDED:
            password = settings.LOCAL_ARTHUR_DEMO_PASSWORD
            self.stdout.write("Demo sign-in accounts (demo only):")
            for email, role in (
                ("admin@example.com", "organization admin"),
                ("editor@example.com", "edits two projects, views the rest"),
                ("viewer@example.com", "views every project"),
            ):
                self.stdout.write(f"  {email:<22} {password:<14} {role}")
        self.stdout.write("Press Ctrl+C to stop.")
        httpd = ThreadedWSGIServer((host, port), QuietHandler)
        httpd.daemon_threads = True
        httpd.set_app(get_internal_wsgi_application())
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            httpd.server_close()

    def _start_agent(self, stop: threading.Event) -> None:
        from dataplane.agent import start_agent_thread

        start_agent_thread(stop_event=stop)
