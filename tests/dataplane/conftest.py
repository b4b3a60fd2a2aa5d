"""Fixtures that run data-plane agents against the `local_arthur` live server."""

from __future__ import annotations

import threading

import pytest

# Fast enough that end-to-end tests wait milliseconds, not the production quarter second.
TEST_POLL_INTERVAL = 0.05


@pytest.fixture
def start_agent(local_arthur):
    """Start data-plane agent threads against the live server; every one is stopped at teardown.

    ``start_agent()`` returns ``(thread, stop_event)``: set the event to stop that agent alone
    (it finishes the job in hand first).
    """
    from dataplane.agent import start_agent_thread

    started: list[tuple[threading.Thread, threading.Event]] = []

    def start(*, poll_interval: float = TEST_POLL_INTERVAL) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = start_agent_thread(stop_event=stop, poll_interval=poll_interval, name=f"test-agent-{len(started)}")
        started.append((thread, stop))
        return thread, stop

    yield start
    for _, stop in started:
        stop.set()
    for thread, _ in started:
        thread.join(timeout=15)
        assert not thread.is_alive(), f"{thread.name} did not stop"


@pytest.fixture
def dataplane_agent(start_agent):
    """One agent polling the live server every 50 ms for the whole test; returns its thread."""
    thread, _ = start_agent()
    return thread
