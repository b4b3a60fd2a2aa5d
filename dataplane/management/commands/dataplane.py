"""`manage.py dataplane`: run the data-plane agent(s) until interrupted (SIGINT or SIGTERM)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dataplane.agent import engine_url, start_agent_thread


class Command(BaseCommand):
    help = "Run the Local Arthur data-plane agent: pull task jobs from the control plane and execute them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", type=int, default=1, help="agent threads sharing the queue (default 1)")
        parser.add_argument("--poll-interval", type=float, default=None, help="seconds between polls")

    def handle(self, *args, workers: int, poll_interval: float | None, **options) -> None:
        if not settings.ARTHUR_HOST:
            raise CommandError("ARTHUR_HOST must be set: it is the control plane the agent pulls jobs from.")
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            if not stop.is_set():
                self.stdout.write("Stopping: finishing the jobs in hand…")
                stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        threads = [
            start_agent_thread(stop_event=stop, poll_interval=poll_interval, name=f"dataplane-agent-{index}")
            for index in range(workers)
        ]
        self.stdout.write(
            self.style.SUCCESS(f"Data-plane agent: {workers} worker(s) pulling from {settings.ARTHUR_HOST}")
        )
        self.stdout.write(f"Engine address (connection info api_host): {engine_url()}")
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(timeout=0.5)
        self.stdout.write("Data-plane agent stopped.")
