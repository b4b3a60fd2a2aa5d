"""`make serve` (bin/serve): gunicorn with several workers plus agent processes on PostgreSQL.

A burst of 200 jobs is drained by two agent processes with none lost and none run twice, and with
REDIS_URL set a signed-in person's session survives the web workers being replaced.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests

from arthur_api.auth import ClientCredentialsAuth
from arthur_api.client import ArthurClient
from tests.accounts.test_live import sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODELS = [
    "12ddb679-2b29-5775-bc2a-3e258292cdf6",  # support-bot
    "486731a9-c2fb-5a2b-b6ac-84fc3425b8f0",  # claims-assistant
    "0b68bf79-1028-5512-99e8-606d740d1fed",  # hr-helpdesk
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _processes() -> dict[int, tuple[int, str]]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,ppid=,args="], capture_output=True, text=True, check=True).stdout
    table = {}
    for line in out.splitlines():
        pid, ppid, args = line.strip().split(None, 2)
        table[int(pid)] = (int(ppid), args)
    return table


def _descendants(root: int) -> dict[int, tuple[int, str]]:
    table = _processes()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, args) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = (ppid, args)
                frontier.append(pid)
    return found


@pytest.fixture(scope="module")
def served() -> Iterator[dict]:
    """bin/serve on a fresh PostgreSQL database and a free port; stopped and dropped afterwards."""
    base = urlsplit(os.environ["DATABASE_URL"])
    name = f"serve_test_{os.getpid()}"
    admin = urlunsplit(base._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    port, arthur_port = _free_port(), _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))},
        "PY": sys.executable,
        "PORT": str(port),
        "ARTHUR_PORT": str(arthur_port),
        "AGENTS": "2",
        "WEB_CONCURRENCY": "2",
        "DASHBOARD_MODE": "demo",
        "DATABASE_URL": urlunsplit(base._replace(path=f"/{name}")),
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "GUNICORN_ACCESSLOG": "/dev/null",
        "LOG_LEVEL": "WARNING",
    }
    log = open(ROOT / "var" / f"serve-test-{port}.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [str(ROOT / "bin" / "serve")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"bin/serve exited with {proc.returncode}; see {log.name}")
            try:
                if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"bin/serve did not become ready; see {log.name}")
        yield {"url": url, "arthur": f"http://127.0.0.1:{arthur_port}", "pid": proc.pid, "port": port}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _gunicorn(pid: int, port: int) -> tuple[int, set[int]]:
    """The gunicorn master bound to `port` and its worker processes."""
    tree = _descendants(pid)
    masters = [p for p, (ppid, args) in tree.items() if "gunicorn" in args and ppid == pid and f":{port}" in args]
    assert len(masters) == 1, tree
    master = masters[0]
    workers = {p for p, (ppid, args) in tree.items() if ppid == master}
    return master, workers


def test_serve_runs_workers_and_agents_that_drain_a_burst_exactly_once(served) -> None:
    _, workers = _gunicorn(served["pid"], served["port"])
    _, arthur_workers = _gunicorn(served["pid"], int(served["arthur"].rsplit(":", 1)[1]))
    agents = [p for p, (_, args) in _descendants(served["pid"]).items() if "manage.py dataplane" in args]
    assert len(workers) >= 2 and len(arthur_workers) >= 2
    assert len(agents) == 2

    arthur = served["arthur"]
    api = ArthurClient(arthur, ClientCredentialsAuth("arthur-sa-demo", "arthur-sa-demo-secret", arthur))
    submitted = [api.sync_task(DEMO_MODELS[i % len(DEMO_MODELS)]).job_id for i in range(200)]
    assert len(set(submitted)) == 200

    pending = set(submitted)
    states: dict[str, str] = {}
    deadline = time.monotonic() + 240
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            job = api.get_job(job_id)
            if job.is_terminal:
                states[job_id] = job.state
                pending.discard(job_id)
        time.sleep(0.5)
    assert not pending, f"{len(pending)} jobs never finished"
    assert set(states.values()) == {"completed"}
    # Exactly once: every job ran in one attempt with one run.
    for job_id in submitted:
        assert api.get_job(job_id).attempts == 1
        assert len(api.get_job_runs(job_id).records) == 1


def test_redis_sessions_survive_a_web_worker_restart(served) -> None:
    browser = sign_in(served["url"], "editor@example.com")
    assert "Eddie Editor" in browser.get(served["url"] + "/", timeout=10).text
    master, before = _gunicorn(served["pid"], served["port"])
    os.kill(master, signal.SIGHUP)  # gunicorn replaces every worker process
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, after = _gunicorn(served["pid"], served["port"])
        if after and not (after & before) and len(after) >= 2:
            break
        time.sleep(0.3)
    else:
        pytest.fail("gunicorn did not replace its workers")
    page = browser.get(served["url"] + "/", timeout=10, allow_redirects=False)
    assert page.status_code == 200
    assert "Eddie Editor" in page.text
