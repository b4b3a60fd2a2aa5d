"""`manage.py demo` on a fresh folder: seeds, serves the dashboard and Local Arthur, runs the agent."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from arthur_api.auth import ClientCredentialsAuth
from arthur_api.client import ArthurClient

ROOT = Path(__file__).resolve().parents[1]
SUPPORT_BOT_MODEL = "12ddb679-2b29-5775-bc2a-3e258292cdf6"


@pytest.fixture
def demo(tmp_path) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DASHBOARD_", "ARTHUR_", "PYTEST_")) and k != "DATABASE_URL"
    }
    # A folder that does not exist yet, as on a fresh clone.
    env["DASHBOARD_VAR_DIR"] = str(tmp_path / "fresh" / "var")
    log = open(tmp_path / "demo.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"demo exited with {proc.returncode}: {(tmp_path / 'demo.log').read_text()[-2000:]}")
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)
        else:
            pytest.fail("demo never answered /healthz")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    output = (tmp_path / "demo.log").read_text()
    assert f"Arthur Tasks dashboard: {url}/" in output
    assert "admin@example.com" in output and "arthur-demo" in output


def test_demo_serves_the_dashboard_local_arthur_and_the_agent(demo) -> None:
    home = requests.get(demo + "/", timeout=10, allow_redirects=False)
    assert home.status_code == 302 and "/accounts/login" in home.headers["Location"]
    assert requests.get(demo + "/readyz", timeout=10).json()["status"] == "ok"
    # The in-process agent runs jobs: a sync submitted through the API completes.
    api = ArthurClient(demo, ClientCredentialsAuth("arthur-sa-demo", "arthur-sa-demo-secret", demo))
    job_id = api.sync_task(SUPPORT_BOT_MODEL).job_id
    deadline = time.monotonic() + 60
    while not (job := api.get_job(job_id)).is_terminal and time.monotonic() < deadline:
        time.sleep(0.3)
    assert job.state == "completed"
