"""The data-plane job agent (filled by the data-plane issue)."""

from __future__ import annotations

import threading


def start_agent_thread(*, stop_event: threading.Event) -> threading.Thread | None:
    """Start the agent in a daemon thread; returns None until the agent exists."""
    return None
