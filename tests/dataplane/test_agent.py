"""The agent's loop and reporting, with a scripted control plane (no HTTP)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from arthur_api.errors import ArthurUnavailable
from arthur_api.records import Job, JobRun
from dataplane.agent import Agent
from dataplane.store import EngineStore

pytestmark = [
    pytest.mark.django_db,
    # An exception escaping the agent's thread is a bug: fail the test rather than warn.
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]


class ScriptedClient:
    """Just enough of ArthurClient for the agent: a queue of runs and a record of what was reported."""

    def __init__(self, jobs, *, on_get_job=None, dequeue_failures=0):
        self.jobs = {job.id: job for job in jobs}
        self.queue = [
            JobRun(id=f"run-{job.id}", job_id=job.id, state="running", job_attempt=1, start_timestamp=NOW)
            for job in jobs
        ]
        self.on_get_job = on_get_job
        self.dequeue_failures = dequeue_failures
        self.logs, self.errors, self.states = [], [], []
        self.closed = False

    def close(self):
        self.closed = True

    def get_users_me(self):
        return type("Me", (), {"data_plane_id": "dp-1"})()

    def post_dequeue_job(self, data_plane_id, *, memory_limit_mb):
        assert data_plane_id == "dp-1"
        if self.dequeue_failures:
            self.dequeue_failures -= 1
            raise ArthurUnavailable("Arthur is unavailable (503)", status=503)
        return self.queue.pop(0) if self.queue else None

    def get_job(self, job_id):
        if self.on_get_job:
            self.on_get_job()
        return self.jobs[job_id]

    def post_job_logs(self, job_id, run_id, lines):
        self.logs += [(job_id, line["log_level"], line["log"]) for line in lines]

    def post_job_errors(self, job_id, run_id, errors):
        self.errors += [(job_id, error) for error in errors]

    def put_job_state(self, job_id, run_id, state):
        self.states.append((job_id, state))


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def job(job_id, kind, spec):
    return Job(
        id=job_id,
        kind=kind,
        job_spec={"job_type": kind, **spec},
        state="running",
        project_id="p",
        queued_at=NOW,
        ready_at=NOW,
    )


def agent_for(client, stop):
    return Agent(client=client, store=EngineStore(api_host="http://engine.test"), stop_event=stop, poll_interval=0.01)


def run_until_drained(client):
    stop = threading.Event()
    agent = agent_for(client, stop)
    thread = threading.Thread(target=agent.run)
    thread.start()
    try:
        for _ in range(500):
            if len(client.states) == len(client.jobs):
                break
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_failures_fail_the_job_not_the_agent(transactional_db):
    client = ScriptedClient(
        [
            job("j1", "metrics_calculation", {}),
            job("j2", "fetch_model_task", {}),  # no scope_model_id: the executor raises KeyError
        ],
        dequeue_failures=1,
    )
    run_until_drained(client)
    # The control plane was unavailable once: the agent waited and went on polling.
    assert client.states == [("j1", "failed"), ("j2", "failed")]
    assert ("j1", "Job kind metrics_calculation is not supported by this engine") in client.errors
    assert ("j2", "'scope_model_id'") in client.errors
    j1_logs = [message for job_id, _, message in client.logs if job_id == "j1"]
    assert j1_logs == [
        "Starting job j1 - metrics_calculation",
        "Error executing job: Job kind metrics_calculation is not supported by this engine",
    ]


def test_a_stop_request_lets_the_job_in_hand_finish():
    stop = threading.Event()
    client = ScriptedClient(
        [job("j1", "metrics_calculation", {}), job("j2", "metrics_calculation", {})], on_get_job=stop.set
    )
    thread = threading.Thread(target=agent_for(client, stop).run)
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive()
    # The first job was reported even though the stop came while it ran; the second was never taken.
    assert client.states == [("j1", "failed")]
    assert len(client.queue) == 1
    assert client.closed
