"""The data-plane job agent: pulls the control plane's task jobs and runs them on the engine store.

Like Arthur's ml-engine it signs in with client credentials, reads its data-plane id from
``/users/me``, polls ``jobs/next`` every ``DATAPLANE_POLL_INTERVAL`` seconds, posts every log line
and each error of a run, and finishes each run with ``completed`` or ``failed``. It talks to the
control plane only over HTTP through `arthur_api`. A failing job never stops the agent; a stop
request is honoured between jobs, so the run it holds is always finished first.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import requests
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from urllib3.util.retry import Retry

from arthur_api.auth import ClientCredentialsAuth
from arthur_api.client import READ_METHODS, ArthurClient
from arthur_api.errors import ArthurError
from arthur_api.records import Job, JobRun
from dataplane.executors import EXECUTORS, JobFailed
from dataplane.ports import ArthurPort
from dataplane.store import EngineStore

logger = logging.getLogger(__name__)

# Roughly the "memory available" an ml-engine reports; task jobs are small.
MEMORY_LIMIT_MB = 1024
# How many times a call that could not connect is tried again (about a minute with the backoff):
# long enough for the control plane to restart, well short of a run's lease (120 s by default).
CONNECT_RETRIES = 30


# The agent's PUTs (task cache, connection info, job state) and DELETEs (404s ignored) are
# idempotent: sending one twice changes nothing more, so they are retried like reads.
RETRIED_METHODS = READ_METHODS | {"PUT", "DELETE"}


class UntilStopped(Retry):
    """The agent's retries, none once the agent is asked to stop: a call that could not connect at all
    is tried again for about a minute whatever its method (refused or timed out while connecting:
    nothing reached the control plane, so nothing can be applied twice); reads, PUTs and DELETEs also
    after a dropped connection or a 502/503/504. A POST that reached the server is never repeated.

    Without it, a control-plane restart in the middle of a job made the job's next call fail at once
    (a stopping gunicorn worker also drops requests sent on its kept-alive connections): the job was
    reported failed (final) or, its report lost too, run a second time once its lease expired.
    """

    def __init__(self, *args: Any, stop_event: threading.Event | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stop_event = stop_event

    def new(self, **kwargs: Any) -> UntilStopped:
        retry = super().new(**kwargs)
        retry.stop_event = self.stop_event
        return retry

    def increment(self, *args: Any, **kwargs: Any) -> Retry:
        if self.stop_event is not None and self.stop_event.is_set():
            # An exhausted copy: incrementing it raises MaxRetryError with the original error.
            return Retry.increment(self.new(total=0, connect=0, read=0, status=0, other=0), *args, **kwargs)
        return super().increment(*args, **kwargs)


def agent_retry(stop_event: threading.Event) -> UntilStopped:
    return UntilStopped(
        total=None,
        connect=CONNECT_RETRIES,
        read=2,
        status=3,
        other=0,
        backoff_factor=0.5,
        backoff_jitter=0.25,
        backoff_max=2,
        status_forcelist=(502, 503, 504),
        allowed_methods=RETRIED_METHODS,
        raise_on_status=False,
        respect_retry_after_header=True,
        retry_after_max=5,
        stop_event=stop_event,
    )


class PostingJobLog:
    """A job logger whose every line is posted to the run's logs as it happens (and logged locally).

    Posting also extends the run's lease. A line that cannot be posted is kept in the local log only.
    """

    def __init__(self, client: ArthurClient, job_id: str, run_id: str) -> None:
        self.client, self.job_id, self.run_id = client, job_id, run_id

    def info(self, message: str) -> None:
        self._post("info", message)

    def warning(self, message: str) -> None:
        self._post("warning", message)

    def error(self, message: str) -> None:
        self._post("error", message)

    def _post(self, level: str, message: str) -> None:
        logger.log(logging.getLevelNamesMapping()[level.upper()], "job %s: %s", self.job_id, message)
        line = {"log_level": level, "log": message, "log_timestamp": datetime.now(UTC).isoformat()}
        try:
            self.client.post_job_logs(self.job_id, self.run_id, [line])
        except ArthurError as error:
            logger.warning("job %s: could not post a log line: %s", self.job_id, error)


class Agent:
    """One polling worker. Several agents (threads or processes) can share a data plane's queue."""

    def __init__(
        self,
        *,
        client: ArthurClient,
        store: EngineStore,
        stop_event: threading.Event,
        poll_interval: float,
        token_session: requests.Session | None = None,
    ) -> None:
        self.client = client
        # The token endpoint's session, closed with the client's when the agent stops.
        self.token_session = token_session
        self.port = ArthurPort(client)
        self.store = store
        self.stop_event = stop_event
        self.poll_interval = poll_interval
        self.data_plane_id: str | None = None

    def run(self) -> None:
        """Poll and execute until the stop event is set. Never raises."""
        try:
            while not self.stop_event.is_set():
                try:
                    if not self.step():
                        self.stop_event.wait(self.poll_interval)
                except ArthurError as error:  # the control plane is away or refused: try again later
                    logger.warning("data-plane agent: polling failed: %s", error)
                    self.stop_event.wait(max(self.poll_interval, 1.0))
                except Exception:  # the agent outlives any failure
                    logger.exception("data-plane agent: polling failed")
                    self.stop_event.wait(max(self.poll_interval, 1.0))
        finally:
            self.close()
            # This thread's own database connections: nobody else will ever close them.
            connections.close_all()

    def close(self) -> None:
        """Release the HTTP connections kept alive between polls (the server's threads can then end)."""
        self.client.close()
        if self.token_session is not None:
            self.token_session.close()

    def step(self) -> bool:
        """Take and run at most one job; returns whether there was one.

        Raises `ArthurError` when the control plane cannot be reached (the caller waits and retries).
        """
        close_old_connections()
        if self.data_plane_id is None:
            self.data_plane_id = self._read_data_plane_id()
        run = self.client.post_dequeue_job(self.data_plane_id, memory_limit_mb=MEMORY_LIMIT_MB)
        if run is None:
            return False
        self.execute(run)
        return True

    def execute(self, run: JobRun) -> str:
        """Run one dequeued job and report its outcome; returns the state set (completed or failed)."""
        log = PostingJobLog(self.client, run.job_id, run.id)
        try:
            job = self.client.get_job(run.job_id)
        except ArthurError as error:
            log.error(f"Error executing job: could not read job {run.job_id}: {error}")
            return self._finish(run, "failed", str(error))
        log.info(f"Starting job {job.id} - {job.kind}")
        try:
            self._run_executor(job, log)
        except Exception as error:  # any failure fails the job, never the agent
            message = str(error) or type(error).__name__
            logger.debug("job %s failed", job.id, exc_info=True)
            log.error(f"Error executing job: {message}")
            return self._finish(run, "failed", message)
        log.info(f"Job {job.id} - {job.kind} completed")
        return self._finish(run, "completed", None)

    def _run_executor(self, job: Job, log: PostingJobLog) -> None:
        executor = EXECUTORS.get(job.kind)
        if executor is None:
            raise JobFailed(f"Job kind {job.kind} is not supported by this engine")
        executor(self.store, self.port, job.job_spec, log, job.id)

    def _finish(self, run: JobRun, state: str, error: str | None) -> str:
        try:
            if error is not None:
                self.client.post_job_errors(run.job_id, run.id, [error])
            self.client.put_job_state(run.job_id, run.id, state)
        except ArthurError as failure:
            # The run's lease will expire and the control plane will retry or fail the job.
            logger.warning("job %s: could not report %s: %s", run.job_id, state, failure)
            return state
        # The control plane took the final state: no attempt of this job will ever run again, so its
        # "applied" marker (kept for a retry after a kill) can go.
        try:
            self.store.forget_job(run.job_id)
        except DatabaseError as failure:  # a leftover marker is harmless: nothing will read it again
            logger.warning("job %s: could not drop its applied marker: %s", run.job_id, failure)
        return state

    def _read_data_plane_id(self) -> str:
        me = self.client.get_users_me()
        if not me.data_plane_id:
            raise JobFailed("Data plane ID cannot be None when dequeueing jobs")
        return me.data_plane_id


def engine_url() -> str:
    """The engine's public address: DATAPLANE_ENGINE_URL, or ``{ARTHUR_HOST}/engine`` when embedded."""
    return settings.DATAPLANE_ENGINE_URL or f"{settings.ARTHUR_HOST}/engine"


def build_agent(*, stop_event: threading.Event, poll_interval: float | None = None) -> Agent:
    """An agent for the configured control plane (settings read now, so tests can point it anywhere)."""
    host = settings.ARTHUR_HOST
    token_session = requests.Session()
    auth = ClientCredentialsAuth(
        settings.DATAPLANE_CLIENT_ID, settings.DATAPLANE_CLIENT_SECRET, host, session=token_session
    )
    client = ArthurClient(host, auth, timeout=settings.ARTHUR_HTTP_TIMEOUT, retry=agent_retry(stop_event))
    return Agent(
        client=client,
        token_session=token_session,
        store=EngineStore(api_host=engine_url()),
        stop_event=stop_event,
        poll_interval=settings.DATAPLANE_POLL_INTERVAL if poll_interval is None else poll_interval,
    )


def start_agent_thread(
    *, stop_event: threading.Event, poll_interval: float | None = None, name: str = "dataplane-agent"
) -> threading.Thread:
    """Start an agent in a daemon thread; it stops (after finishing its current job) when ``stop_event`` is set."""
    agent = build_agent(stop_event=stop_event, poll_interval=poll_interval)
    thread = threading.Thread(target=agent.run, name=name, daemon=True)
    thread.start()
    return thread
