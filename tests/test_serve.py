"""`make serve` (bin/serve): gunicorn with several workers plus agent processes on PostgreSQL.

A burst of 200 jobs is drained by two agent processes with none lost and none run twice, and with
REDIS_URL set a signed-in person's session survives the web workers being replaced.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from arthur_api.auth import ClientCredentialsAuth
from arthur_api.client import ArthurClient
from tests.accounts.test_live import sign_in
from tests.reliability.load import Stack, serve

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DEMO_MODELS = [
    "12ddb679-2b29-5775-bc2a-3e258292cdf6",  # support-bot
    "486731a9-c2fb-5a2b-b6ac-84fc3425b8f0",  # claims-assistant
    "0b68bf79-1028-5512-99e8-606d740d1fed",  # hr-helpdesk
]


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
def served() -> Iterator[Stack]:
    """bin/serve on a fresh PostgreSQL database and free ports; stopped and dropped afterwards."""
    with serve(
        database_url=os.environ["DATABASE_URL"],
        name=f"serve_test_{os.getpid()}",
        redis_url="redis://127.0.0.1:6379/15",
        log_name="serve-test",
    ) as stack:
        yield stack


def _gunicorn(pid: int, port: int) -> tuple[int, set[int]]:
    """The gunicorn master bound to `port` and its worker processes."""
    tree = _descendants(pid)
    masters = [p for p, (ppid, args) in tree.items() if "gunicorn" in args and ppid == pid and f":{port}" in args]
    assert len(masters) == 1, tree
    master = masters[0]
    workers = {p for p, (ppid, args) in tree.items() if ppid == master}
    return master, workers


def test_serve_runs_workers_and_agents_that_drain_a_burst_exactly_once(served) -> None:
    _, workers = _gunicorn(served.pid, served.port)
    _, arthur_workers = _gunicorn(served.pid, int(served.arthur.rsplit(":", 1)[1]))
    agents = [p for p, (_, args) in _descendants(served.pid).items() if "manage.py dataplane" in args]
    assert len(workers) >= 2 and len(arthur_workers) >= 2
    assert len(agents) == 2

    arthur = served.arthur
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
    browser = sign_in(served.url, "editor@example.com")
    assert "Eddie Editor" in browser.get(served.url + "/", timeout=10).text
    master, before = _gunicorn(served.pid, served.port)
    os.kill(master, signal.SIGHUP)  # gunicorn replaces every worker process
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, after = _gunicorn(served.pid, served.port)
        if after and not (after & before) and len(after) >= 2:
            break
        time.sleep(0.3)
    else:
        pytest.fail("gunicorn did not replace its workers")
    page = browser.get(served.url + "/", timeout=10, allow_redirects=False)
    assert page.status_code == 200
    assert "Eddie Editor" in page.text
