"""The production-like stack the benchmark measures, started from the same pieces as ``bin/serve``.

``bin/serve`` runs migrate, collectstatic, the seed, then gunicorn (``dashboard/gunicorn.conf.py``)
and ``manage.py dataplane`` agents. The benchmark uses those very pieces with production settings
(``DASHBOARD_MODE=production``, throwaway secrets generated per run, hashed and compressed static
files through whitenoise, JSON logs), on loopback, over a fresh database.

One difference, on purpose: by default the dashboard and Local Arthur are served by *two* gunicorn
instances (same config file, two ports). In production the dashboard talks to an Arthur platform
hosted elsewhere; serving both from one pool of threads (``--single``, what ``bin/serve`` does)
lets a burst of pages occupy every thread while their own calls to Arthur wait in the queue behind
them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/arthur_bench"


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def choose_database() -> str:
    """BENCH_DATABASE_URL, else PostgreSQL on localhost when it answers, else a SQLite file under var/bench."""
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        return explicit
    try:
        import psycopg

        with psycopg.connect(_admin_url(DEFAULT_POSTGRES), connect_timeout=2):
            return DEFAULT_POSTGRES
    except Exception:  # no server, no role: fall back to SQLite
        return f"sqlite:///{VAR / 'bench.sqlite3'}"


def _admin_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/postgres"))


def fresh_cache() -> str | None:
    """A Redis database for the stack's cache and sessions, emptied first (as production would use one);
    BENCH_REDIS_URL, else database 15 of a local Redis when it answers, else None (per-process memory).

    Emptied because the dashboard's per-person cache keys are made of user ids, which a fresh
    database hands out again: a previous run's entries must never reach this run's person.
    """
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.flushdb()
        client.close()
    except Exception:  # no Redis here: the dashboard falls back to its per-process memory cache
        return None
    return url


def fresh_database(database_url: str) -> None:
    """Drop and create the benchmark database (PostgreSQL) or delete its file (SQLite).

    Raises ValueError for a PostgreSQL database whose name does not mark it as a benchmark's, so a
    mistyped BENCH_DATABASE_URL cannot wipe real data.
    """
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    import psycopg
    from psycopg import sql

    name = urlsplit(database_url).path.lstrip("/")
    if "bench" not in name:
        raise ValueError(f"refusing to recreate {name!r}: a benchmark database's name contains 'bench'")
    with psycopg.connect(_admin_url(database_url), autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def bench_env(*, web_url: str, arthur_url: str, database_url: str, redis_url: str | None) -> dict[str, str]:
    """The environment of every process of the stack: production mode, loopback without TLS."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "GUNICORN_"))}
    env.pop("REDIS_URL", None)
    env.pop("PYTEST_VERSION", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "DASHBOARD_MODE": "production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "ARTHUR_CLIENT_SECRET": secrets.token_urlsafe(24),
            "LOCAL_ARTHUR_ENCRYPTION_KEY": secrets.token_urlsafe(32),
            "DATAPLANE_CLIENT_SECRET": secrets.token_urlsafe(24),
            "ARTHUR_HOST": arthur_url,
            "ARTHUR_EMBEDDED": "true",
            "DATABASE_URL": database_url,
            # Loopback has no TLS: no HTTPS redirect or secure-only cookies, and OAuth over http.
            "DJANGO_SECURE_HTTPS": "false",
            "AUTHLIB_INSECURE_TRANSPORT": "1",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_STATIC_MANIFEST": "true",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "WARNING",
            "BENCH_CEILING": "1",
            # No worker recycling during the run: gunicorn.conf.py's max_requests (2000, jitter 200)
            # restarts both workers of a pool within a second of each other, and the seconds of boot
            # that follow would land on whichever target happens to be measured (see the report).
            "GUNICORN_MAX_REQUESTS": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if not database_url.startswith("postgres"):
        env.pop("DATABASE_URL")
        env["SQLITE_PATH"] = database_url.removeprefix("sqlite:///")
    return env


@dataclass
class Stack:
    """The running servers and agents; ``arthur_access_log`` is Local Arthur's gunicorn access log."""

    web_url: str
    arthur_url: str
    env: dict[str, str]
    arthur_access_log: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    # The pids of each process group (bench/cpu.py): "dashboard", "arthur" (one gunicorn serves both
    # with --single: then all of it is "dashboard"), "agents".
    groups: dict[str, list[int]] = field(default_factory=dict)

    @property
    def split(self) -> bool:
        return self.web_url != self.arthur_url


def prepare(env: dict[str, str]) -> None:
    """migrate and collectstatic, as ``bin/serve`` does (raises CalledProcessError on failure)."""
    for command in ("migrate", "collectstatic"):
        # A fixed command line: nothing in it comes from outside.
        subprocess.run([sys.executable, "manage.py", command, "--noinput", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603


def start(env: dict[str, str], *, web_url: str, arthur_url: str, agents: int) -> Stack:
    """Start gunicorn (one instance, or two when the URLs differ) and ``agents`` agent processes.

    Raises RuntimeError when a server does not answer ``/healthz`` within 30 seconds.
    """
    VAR.mkdir(parents=True, exist_ok=True)
    stack = Stack(web_url=web_url, arthur_url=arthur_url, env=env, arthur_access_log=VAR / "arthur-access.log")
    stack.arthur_access_log.unlink(missing_ok=True)
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    servers = {arthur_url: stack.arthur_access_log}
    if stack.split:
        servers[web_url] = VAR / "web-access.log"
    for url, access_log in servers.items():
        server_env = {**env, "GUNICORN_BIND": urlsplit(url).netloc, "GUNICORN_ACCESSLOG": str(access_log)}
        name = "arthur" if url == arthur_url else "web"
        command = [gunicorn, "-c", "dashboard/gunicorn.conf.py", "dashboard.wsgi"]
        stack.processes.append(_spawn(command, server_env, name))
        group = "arthur" if stack.split and url == arthur_url else "dashboard"
        stack.groups.setdefault(group, []).append(stack.processes[-1].pid)
    for url in servers:
        _wait_healthy(url, stack)
    for index in range(agents):
        stack.processes.append(_spawn([sys.executable, "manage.py", "dataplane"], env, f"agent-{index + 1}"))
        stack.groups.setdefault("agents", []).append(stack.processes[-1].pid)
    return stack


def _spawn(command: list[str], env: dict[str, str], name: str) -> subprocess.Popen:
    log = (VAR / f"{name}.log").open("w")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 (fixed commands)


def _wait_healthy(url: str, stack: Stack) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if any(process.poll() is not None for process in stack.processes):
            break
        time.sleep(0.2)
    stop(stack)
    raise RuntimeError(f"{url} did not become healthy: see {VAR}/*.log")


def stop(stack: Stack) -> None:
    """Stop every process of the stack (SIGTERM, then SIGKILL after 10 seconds)."""
    for process in stack.processes:
        if process.poll() is None:
            process.terminate()
    for process in stack.processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def clean_var() -> None:
    """Forget the previous run's logs (the database is recreated separately)."""
    if VAR.exists():
        for path in VAR.glob("*.log"):
            path.unlink()
    VAR.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(VAR / "profiles", ignore_errors=True)
