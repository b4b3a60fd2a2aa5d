"""Real processes for the job-reliability tests: Local Arthur under gunicorn, agent processes, a proxy.

Each test gets its own PostgreSQL database, copied from a template that is migrated and seeded once
per session (``CREATE DATABASE … TEMPLATE`` takes a fraction of a second; migrating takes seconds).
Local Arthur runs as ``bin/serve`` runs it (gunicorn with dashboard/gunicorn.conf.py, demo mode) on
a free port, and can be stopped and started again on that port. Agents are ``manage.py dataplane``
processes whose output goes to a log file; they can be stopped (SIGTERM) or killed (SIGKILL).
"""

from __future__ import annotations

import http.server
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests

from arthur_api.auth import ClientCredentialsAuth
from arthur_api.client import ArthurClient

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
# Each helper running these tests at once on one server sets its own prefix (REL_JOBS_DB_PREFIX).
DB_PREFIX = os.environ.get("REL_JOBS_DB_PREFIX", "") or "rel_jobs_"
SERVICE_ACCOUNT = ("arthur-sa-demo", "arthur-sa-demo-secret")
# The seeded demo task models (tasks_ui/tests and tests/test_serve.py use the same ones).
DEMO_MODELS = (
    "12ddb679-2b29-5775-bc2a-3e258292cdf6",  # support-bot
    "486731a9-c2fb-5a2b-b6ac-84fc3425b8f0",  # claims-assistant
    "0b68bf79-1028-5512-99e8-606d740d1fed",  # hr-helpdesk
)
# Every job's first log line, also written to the agent's own log: "job <id>: Starting job <id> - <kind>".
STARTING = re.compile(r"job ([0-9a-f-]{36}): Starting job ")


def env_int(name: str, default: int) -> int:
    """A test size from the environment (the soak run sets bigger ones), else the CI default."""
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


SOAK = os.environ.get("SOAK", "") not in {"", "0", "false"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _base_env() -> dict[str, str]:
    """This process's environment without pytest's and Django's own variables, in demo mode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_", "LOCAL_ARTHUR_"))}
    env.pop("REDIS_URL", None)  # one cache per process is enough: nothing here shares sessions
    env.update(
        {
            "DASHBOARD_MODE": "demo",
            "DJANGO_STATIC_MANIFEST": "false",
            "LOG_FORMAT": "plain",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


# --- databases ---------------------------------------------------------------------------------


def _admin_url() -> str:
    return urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path="/postgres"))


def database_url(name: str) -> str:
    return urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))


def _drop(name: str) -> None:
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _manage(database: str, *args: str) -> None:
    env = {**_base_env(), "DATABASE_URL": database_url(database), "LOG_LEVEL": "WARNING"}
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)


@pytest.fixture(scope="session")
def seeded_template() -> Iterator[str]:
    """A migrated PostgreSQL database holding the demo seed; per-test databases are copies of it."""
    name = f"{DB_PREFIX}template_{os.getpid()}"
    _drop(name)
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        _manage(name, "migrate", "--noinput", "-v0")
        _manage(name, "seed_demo", "-v0")
        yield name
    finally:
        _drop(name)


_copies = itertools.count(1)


@pytest.fixture
def fresh_database(seeded_template: str) -> Iterator[str]:
    """A fresh database for one test, a copy of the seeded template; dropped afterwards."""
    name = f"{DB_PREFIX}{os.getpid()}_{next(_copies)}"
    _drop(name)
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{seeded_template}"')
    try:
        yield name
    finally:
        _drop(name)


def query(database: str, sql: str, *params: object) -> list[tuple]:
    """Rows of one read-only query against a test database (for whole-queue checks)."""
    with psycopg.connect(database_url(database), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


# --- Local Arthur ------------------------------------------------------------------------------


class LocalArthur:
    """Local Arthur under gunicorn (2 workers, as bin/serve runs it) on one port, restartable."""

    def __init__(self, database: str, logs: Path, *, lease_seconds: int) -> None:
        self.database = database
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = logs
        self.env = {
            **_base_env(),
            "DATABASE_URL": database_url(database),
            "ARTHUR_HOST": self.url,
            "LOCAL_ARTHUR_JOB_LEASE_SECONDS": str(lease_seconds),
            "WEB_CONCURRENCY": "2",
            "GUNICORN_THREADS": "8",
            "GUNICORN_ACCESSLOG": "/dev/null",
            "LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self, *, timeout: float = 60) -> None:
        """Start gunicorn and wait until /healthz answers."""
        self.starts += 1
        log = open(self.logs / f"arthur-{self.port}-{self.starts}.log", "w")  # noqa: SIM115 (closed on stop)
        self.process = subprocess.Popen(
            [GUNICORN, "-c", "dashboard/gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}", "dashboard.wsgi"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}; see {log.name}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail(f"Local Arthur did not answer on {self.url}; see {log.name}")

    def stop(self, *, timeout: float = 30) -> None:
        """Stop gunicorn fully (graceful SIGTERM: requests in flight finish), waiting for every process."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        # Workers are in the master's process group: wait until none is left holding the port.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def client(self) -> ArthurClient:
        """The demo service account (organization admin) over client credentials."""
        return ArthurClient(self.url, ClientCredentialsAuth(*SERVICE_ACCOUNT, self.url))


@pytest.fixture
def start_arthur(fresh_database: str, tmp_path: Path) -> Iterator[Callable[..., LocalArthur]]:
    """``start_arthur(lease_seconds=…)``: Local Arthur started on the test's fresh database; stopped afterwards.

    The lease is LOCAL_ARTHUR_JOB_LEASE_SECONDS of the server process: how long a silent run is kept.
    """
    servers: list[LocalArthur] = []

    def start(*, lease_seconds: int) -> LocalArthur:
        server = LocalArthur(fresh_database, tmp_path, lease_seconds=lease_seconds)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


# --- agents ------------------------------------------------------------------------------------


class AgentProcess:
    """One ``manage.py dataplane`` process; its output (one line per job start) is kept in a file."""

    def __init__(self, arthur: LocalArthur, logs: Path, *, via: str | None = None, workers: int = 1) -> None:
        self.log_path = logs / f"agent-{next(_copies)}.log"
        env = {
            **_base_env(),
            "DATABASE_URL": database_url(arthur.database),
            "ARTHUR_HOST": via or arthur.url,
            # The same engine address whichever way an agent reaches the control plane.
            "DATAPLANE_ENGINE_URL": f"{arthur.url}/engine",
        }
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [PYTHON, "manage.py", "dataplane", "--workers", str(workers), "--poll-interval", "0.05"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: the agent dies at once, whatever it is doing."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (the agent finishes the job in hand first); returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def output(self) -> str:
        return self.log_path.read_text()

    def started_jobs(self) -> list[str]:
        """The ids of the jobs this agent started, in order (one entry per run it began)."""
        return STARTING.findall(self.output())


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """``agents(arthur, via=None, workers=1)`` starts an agent process; all are stopped afterwards."""
    started: list[AgentProcess] = []

    def start(arthur: LocalArthur, *, via: str | None = None, workers: int = 1) -> AgentProcess:
        agent = AgentProcess(arthur, tmp_path, via=via, workers=workers)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop(timeout=10)


# --- a proxy that can hold an agent in the middle of a job ------------------------------------

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass
class HeldRequest:
    method: str
    path: str


class HoldingProxy:
    """An HTTP proxy between one agent and Local Arthur that forwards every request, except the first
    one matching ``hold(method, path)``: that one is kept waiting and never forwarded, so the agent
    stays blocked at that point of its job until it is killed. No agent code changes are needed.
    """

    def __init__(self, upstream: str, hold: Callable[[str, str], bool]) -> None:
        self.upstream = upstream
        self.hold = hold
        self.held: HeldRequest | None = None
        self.holding = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy._should_hold(self.command, self.path):
                    proxy._release.wait()
                    self.close_connection = True
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                try:
                    answer = requests.request(
                        self.command, proxy.upstream + self.path, headers=headers, data=body or None, timeout=30
                    )
                except requests.RequestException:
                    self.send_error(502)
                    return
                content = answer.content
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _should_hold(self, method: str, path: str) -> bool:
        with self._lock:
            if self.held is None and self.hold(method, path):
                self.held = HeldRequest(method, path)
                self.holding.set()
                return True
        return False

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def holding_proxy() -> Iterator[Callable[[str, Callable[[str, str], bool]], HoldingProxy]]:
    proxies: list[HoldingProxy] = []

    def start(upstream: str, hold: Callable[[str, str], bool]) -> HoldingProxy:
        proxy = HoldingProxy(upstream, hold)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()


# --- waiting -----------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def job_states(database: str, job_ids: list[str]) -> dict[str, str]:
    rows = query(database, "SELECT id::text, state FROM controlplane_job WHERE id = ANY(%s::uuid[])", job_ids)
    return dict(rows)


def wait_all_terminal(database: str, job_ids: list[str], *, timeout: float) -> dict[str, str]:
    """Wait until every job is completed, failed or cancelled; returns their states."""
    terminal = {"completed", "failed", "cancelled"}
    states: dict[str, str] = {}

    def done() -> bool:
        states.update(job_states(database, job_ids))
        return all(states.get(job_id) in terminal for job_id in job_ids)

    wait_until(done, timeout=timeout, what=f"{len(job_ids)} jobs to finish", interval=0.25)
    return states
