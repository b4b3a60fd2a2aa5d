"""Helpers of ``test_load.py``: ``bin/serve`` on a fresh PostgreSQL database, people signed in through
the real flow, submitters that go through the dashboard's change forms, and job-tracker pollers.

The load runs in threads of the test process. Each poller is a browser tab with an open tracker: it
polls a job's fragment, waits ``interval`` seconds after each answer and polls again, as htmx does
with the fragment's ``hx-trigger="load delay:1s"`` (1 s is the tracker's fastest cadence, so 50 such
tabs are the worst case 50 real trackers produce; ``interval=0`` polls back to back). Threads are
enough on the client side: measured on two cores, 50 tabs at 1 s plus the submitters are about
70 requests a second and cost the client 8-10 % of one core (18 % back to back, about 150 a second),
so the GIL does not throttle the load; separate processes (``bench/load.py``) pay off for closed-loop
measurements in the hundreds of requests a second, and would make sharing the jobs to poll harder.

Every response's status is counted per request kind; a request that got no answer (connection error,
timeout) is counted as a failure, and a 200/286 whose body is the dashboard's designed "Arthur is
unavailable" answer (``bench.load.DEGRADED_MARKERS``) as degraded: a hidden failure.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import psycopg
import requests

from bench.load import DEGRADED_MARKERS
from bench.run import HX, JOB_STATE, TRACKER_ID, sync_form_in
from bench.server import free_port
from bench.signin import sign_in

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "arthur-demo"
TERMINAL = frozenset({"completed", "failed", "cancelled"})
SYNC_KIND = "fetch_model_task"
PATCH_KIND = "update_model_task_rules"
# The statuses each kind of request answers when all is well (302: the forms' POST/redirect/GET).
EXPECTED: dict[str, frozenset[int]] = {
    "task_page": frozenset({200}),
    "job_page": frozenset({200}),
    "sync_post": frozenset({200, 286}),  # 286: a double submit of a job that already ended
    "draft_toggle": frozenset({302}),
    "review_page": frozenset({200}),
    "review_post": frozenset({302}),
    "tracker": frozenset({200, 286}),
    "poll": frozenset({200, 286}),
}
OOB_KEY = re.compile(r'name="idempotency_key" value="([^"]+)" id="key-sync" hx-swap-oob="true"')
FORM_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TOGGLE = re.compile(r'name="toggle" value="((?:enable|disable):[0-9a-f-]{36})"')
JOB_IN_URL = re.compile(r"[?&]job=([0-9a-f-]{36})")

# Extra people for the load (Local Arthur's identity models), editors of the two Production projects.
EXTRA_PEOPLE_SCRIPT = """
from controlplane.identity.models import Organization, PlatformUser
from controlplane.models import Project, Role, RoleBinding
org = Organization.objects.get(name="Demo Org")
for email in {emails!r}:
    person, _ = PlatformUser.objects.get_or_create(
        email=email,
        defaults={{"organization": org, "user_type": PlatformUser.UserType.USER,
                   "first_name": email.split("@")[0], "last_name": "Load"}},
    )
    person.set_secret({password!r})
    person.save()
    for project in Project.objects.filter(name__in=["Customer Support", "Claims Automation"]):
        RoleBinding.objects.get_or_create(user=person, role=Role.PROJECT_EDITOR, organization=None, project=project)
"""


# --- the server ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    url: str
    arthur: str
    database_url: str
    env: dict[str, str]
    log: Path
    pid: int  # bin/serve's own process (it leads the process group of the gunicorns and agents)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@contextmanager
def serve(
    *, database_url: str, name: str, redis_url: str, agents: int = 2, log_name: str = "rel-load"
) -> Iterator[Stack]:
    """``bin/serve`` (dashboard and Local Arthur gunicorns plus ``agents`` agents) on a fresh database
    ``name`` and free ports; stopped and the database dropped afterwards. Fails the test (RuntimeError)
    when it does not become ready in two minutes."""
    import redis

    base = urlsplit(database_url)
    admin = urlunsplit(base._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    # Sessions and cached reads of an earlier run (same demo ids, other database) must not leak in.
    redis.Redis.from_url(redis_url).flushdb()
    port, arthur_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))},
        "PY": sys.executable,
        "PORT": str(port),
        "ARTHUR_PORT": str(arthur_port),
        "AGENTS": str(agents),
        "WEB_CONCURRENCY": "2",
        "DASHBOARD_MODE": "demo",
        "DATABASE_URL": urlunsplit(base._replace(path=f"/{name}")),
        "REDIS_URL": redis_url,
        "GUNICORN_ACCESSLOG": "/dev/null",
        "LOG_LEVEL": "WARNING",
    }
    (ROOT / "var").mkdir(exist_ok=True)
    log_path = ROOT / "var" / f"{log_name}-{port}.log"
    log = open(log_path, "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [str(ROOT / "bin" / "serve")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"bin/serve exited with {proc.returncode}; see {log_path}")
            try:
                if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"bin/serve did not become ready; see {log_path}")
            time.sleep(0.5)
        yield Stack(url, f"http://127.0.0.1:{arthur_port}", env["DATABASE_URL"], env, log_path, proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def add_people(stack: Stack, emails: list[str]) -> None:
    """Create ``emails`` as Local Arthur people (password ``arthur-demo``), editors of the two
    Production projects. Raises CalledProcessError when the script fails."""
    script = EXTRA_PEOPLE_SCRIPT.format(emails=emails, password=PASSWORD)
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=stack.env, check=True, capture_output=True
    )


def ledger_rows(database_url: str) -> list[dict[str, str]]:
    """Every row of the dashboard's job ledger with the submitter's email."""
    with psycopg.connect(database_url) as conn:
        cursor = conn.execute(
            "SELECT l.job_id, l.kind, l.project_id, l.model_id, l.outcome, u.email"
            " FROM tasks_ui_ledgerentry l JOIN auth_user u ON u.id = l.user_id"
        )
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass
class ServerLog:
    errors: list[str]
    warnings: Counter[str]
    restarts: int


def server_log(path: Path) -> ServerLog:
    """bin/serve's log so far: ERROR/CRITICAL lines (JSON logs of every process), WARNING lines per
    logger and message start, and how many times gunicorn recycled a worker (max_requests)."""
    errors, warnings = [], Counter()
    text = path.read_text(errors="replace")
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("level") in ("ERROR", "CRITICAL"):
            errors.append(line[:2000])
        elif record.get("level") == "WARNING":
            warnings[f"{record.get('logger')}: {str(record.get('message'))[:40]}"] += 1
    return ServerLog(errors, warnings, text.count("Autorestarting worker"))


# --- what the clients saw -------------------------------------------------------------------------


@dataclass
class Tally:
    """Every answer's status per request kind, failures (no answer), degraded answers and latencies."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    degraded: Counter[str] = field(default_factory=Counter)
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request(
        self, session: requests.Session, kind: str, method: str, url: str, **kwargs
    ) -> requests.Response | None:
        """One request, counted; None when no answer came (counted as a failure, with its error)."""
        began = time.perf_counter()
        try:
            response = session.request(method, url, timeout=30, allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            with self.lock:
                self.failures[kind] += 1
                self.problems.append(f"{kind} {method} {url}: {exc!r}")
            return None
        elapsed = time.perf_counter() - began
        with self.lock:
            self.statuses[(kind, response.status_code)] += 1
            self.latencies[kind].append(elapsed)
            if response.status_code in (200, 286) and any(m in response.content for m in DEGRADED_MARKERS):
                self.degraded[kind] += 1
            if response.status_code not in EXPECTED[kind]:
                self.problems.append(f"{kind} {method} {url}: {response.status_code} {response.text[:300]!r}")
        return response

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)

    def by_kind(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for (kind, _), count in self.statuses.items():
            counts[kind] += count
        return dict(counts)

    def count(self, predicate) -> int:
        return sum(count for (kind, status), count in self.statuses.items() if predicate(kind, status))

    def percentile(self, kinds: tuple[str, ...], fraction: float) -> float:
        values = sorted(v for kind in kinds for v in self.latencies.get(kind, []))
        return values[min(len(values) - 1, int(fraction * len(values)))] if values else 0.0


@dataclass(frozen=True)
class Submitted:
    job_id: str
    email: str
    kind: str
    project_id: str
    model_id: str


class JobBoard:
    """The jobs the submitters started (as they would appear in trackers) and what trackers saw."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.submitted: dict[str, Submitted] = {}
        self.seen_terminal: dict[str, str] = {}
        self.resubmits = 0
        self.skipped_patches = 0

    def add(self, job: Submitted) -> None:
        with self.lock:
            self.submitted.setdefault(job.job_id, job)

    def saw(self, job_id: str, state: str) -> None:
        with self.lock:
            self.seen_terminal.setdefault(job_id, state)

    def pick(self, rng: random.Random) -> str | None:
        """A running job two times in three when there is one, else a finished one."""
        with self.lock:
            if not self.submitted:
                return None
            running = [job for job in self.submitted if job not in self.seen_terminal]
            pool = running if running and rng.random() < 2 / 3 else list(self.submitted)
            return rng.choice(pool)


@dataclass(frozen=True)
class Task:
    project_id: str
    model_id: str


# --- the people ------------------------------------------------------------------------------------


def signed_in(url: str, email: str) -> requests.Session:
    """A browser session of ``email`` after the real sign-in flow (bench.signin raises if it fails)."""
    return sign_in(url, email=email, password=PASSWORD)


def tab_of(browser: requests.Session) -> requests.Session:
    """Another tab of the same browser: the same cookies (session), its own connection."""
    tab = requests.Session()
    tab.cookies.update(browser.cookies)
    return tab


def track(
    tally: Tally, board: JobBoard, tab: requests.Session, url: str, job_id: str, *, interval: float, until: float
):
    """The submitter's own tracker: poll the job's fragment every ``interval`` s until it stops (286)."""
    while time.monotonic() < until:
        response = tally.request(tab, "tracker", "GET", f"{url}/jobs/{job_id}/poll", headers=HX)
        if response is not None and response.status_code == 286:
            found = JOB_STATE.search(response.text)
            board.saw(job_id, found.group(1) if found else "unknown")
            return
        time.sleep(interval)
    tally.problem(f"the tracker of {job_id} was still polling when the drain ended")


def submitter(
    *,
    tally: Tally,
    board: JobBoard,
    url: str,
    email: str,
    browser: requests.Session,
    tasks: list[Task],
    number: int,
    deadline: float,
    drain_until: float,
    interval: float,
) -> None:
    """A person making changes through the dashboard's forms until ``deadline``, watching each job's
    tracker until it ends: on each turn, the next task page (alternating tasks), then a sync (HTMX
    form; every fourth one is double-submitted with the same form key, which must give the same job)
    or, every third turn, a rule change (toggle a rule in the draft, review, submit: PRG)."""
    turn = 0
    while time.monotonic() < deadline:
        task = tasks[(number + turn) % len(tasks)]
        page_url = f"{url}/projects/{task.project_id}/tasks/{task.model_id}/"
        turn += 1
        page = tally.request(browser, "task_page", "GET", page_url)
        if page is None or page.status_code != 200:
            time.sleep(interval)
            continue
        if turn % 3 == 0:
            job_id = _patch(tally, board, browser, page_url, page.text)
            kind = PATCH_KIND
        else:
            job_id = _sync(tally, board, browser, page_url, page.text, double=turn % 4 == 1)
            kind = SYNC_KIND
        if job_id is None:
            continue
        board.add(Submitted(job_id, email, kind, task.project_id, task.model_id))
        track(tally, board, browser, url, job_id, interval=interval, until=drain_until)


def _sync(
    tally: Tally, board: JobBoard, browser: requests.Session, page_url: str, page: str, *, double: bool
) -> str | None:
    form = sync_form_in(page, page_url)
    if form is None:
        tally.problem(f"no sync form on {page_url}")
        return None
    action = form.pop("action")
    headers = {**HX, "Referer": page_url}
    response = tally.request(browser, "sync_post", "POST", action, data=form, headers=headers)
    if response is None or response.status_code not in EXPECTED["sync_post"]:
        return None
    found = TRACKER_ID.search(response.text)
    fresh = OOB_KEY.search(response.text)
    if found is None or fresh is None or fresh.group(1) == form["idempotency_key"]:
        tally.problem(f"sync answered without a tracker or a fresh form key: {response.text[:300]!r}")
        return None
    if double:
        # A double click: the same form (same key) again must answer with the first job.
        again = tally.request(browser, "sync_post", "POST", action, data=form, headers=headers)
        with board.lock:
            board.resubmits += 1
        second = TRACKER_ID.search(again.text) if again is not None else None
        if second is None or second.group(1) != found.group(1):
            tally.problem(f"a resubmitted sync form started {second and second.group(1)}, not {found.group(1)}")
    return found.group(1)


def _patch(tally: Tally, board: JobBoard, browser: requests.Session, page_url: str, page: str) -> str | None:
    toggles = TOGGLE.findall(page)
    csrf = CSRF.search(page)
    if not toggles or csrf is None:
        tally.problem(f"no rule toggle on {page_url}")
        return None
    toggle = tally.request(
        browser,
        "draft_toggle",
        "POST",
        page_url + "rules/draft",
        data={"csrfmiddlewaretoken": csrf.group(1), "toggle": toggles[0], "rules_page": "1"},
        headers={"Referer": page_url},
    )
    if toggle is None or toggle.status_code != 302:
        return None
    review_url = page_url + "rules/review"
    review = tally.request(browser, "review_page", "GET", review_url)
    if review is None or review.status_code != 200:
        return None
    key = FORM_KEY.search(review.text)
    if key is None:
        # Another person's rule change landed between our page read and our toggle: the rule already
        # was as we asked, the draft refused the toggle (the review page says why) and stayed empty.
        if "This rule is already" in review.text:
            with board.lock:
                board.skipped_patches += 1
        else:
            tally.problem(f"the review page has no submit form: {review.text[:300]!r}")
        return None
    sent = tally.request(
        browser,
        "review_post",
        "POST",
        review_url,
        data={"csrfmiddlewaretoken": csrf.group(1), "idempotency_key": key.group(1)},
        headers={"Referer": review_url},
    )
    if sent is None or sent.status_code != 302:
        return None
    location = urljoin(review_url, sent.headers.get("Location", ""))
    tally.request(browser, "task_page", "GET", location)  # the browser follows the redirect
    job = JOB_IN_URL.search(location)
    if job is None:
        tally.problem(f"the submitted rule change redirected to {location}, naming no job")
        return None
    return job.group(1)


def poller(
    *,
    tally: Tally,
    board: JobBoard,
    url: str,
    tab: requests.Session,
    tasks: list[Task],
    number: int,
    deadline: float,
    interval: float,
    active: set[int],
) -> None:
    """An open tracker in a tab: poll a job (running ones first), wait ``interval``, poll again. Every
    twentieth turn the tab loads a task page or a job page instead (a person clicking around)."""
    rng = random.Random(number)
    time.sleep(rng.random() * max(interval, 0.05))  # tabs were not all opened in the same instant
    turn = 0
    while time.monotonic() < deadline:
        turn += 1
        job_id = board.pick(rng)
        if job_id is None or turn % 20 == 0:
            task = tasks[number % len(tasks)]
            tally.request(tab, "task_page", "GET", f"{url}/projects/{task.project_id}/tasks/{task.model_id}/")
        elif turn % 20 == 10:
            tally.request(tab, "job_page", "GET", f"{url}/jobs/{job_id}/")
        else:
            response = tally.request(tab, "poll", "GET", f"{url}/jobs/{job_id}/poll", headers=HX)
            if response is not None and response.status_code == 286:
                found = JOB_STATE.search(response.text)
                board.saw(job_id, found.group(1) if found else "unknown")
        active.add(number)
        time.sleep(interval)


@dataclass
class LoadRun:
    tally: Tally
    board: JobBoard
    pollers_active: int
    wall_seconds: float
    client_cpu_seconds: float


def run_load(
    *,
    url: str,
    submitters: dict[str, requests.Session],
    poller_browsers: list[requests.Session],
    tasks: list[Task],
    pollers: int,
    seconds: float,
    interval: float,
    drain_seconds: float,
) -> LoadRun:
    """``submitters`` (email → signed-in browser) make changes and ``pollers`` tabs (spread over
    ``poller_browsers``) poll trackers for ``seconds``; submitters then watch their last job's tracker
    for at most ``drain_seconds``. Never raises for a failed request: see ``LoadRun.tally``."""
    tally, board, active = Tally(), JobBoard(), set()
    began, cpu_began = time.monotonic(), time.process_time()
    deadline = began + seconds
    threads = [
        threading.Thread(
            target=submitter,
            kwargs={
                "tally": tally,
                "board": board,
                "url": url,
                "email": email,
                "browser": browser,
                "tasks": tasks,
                "number": number,
                "deadline": deadline,
                "drain_until": deadline + drain_seconds,
                "interval": interval,
            },
            name=f"submitter-{number}",
        )
        for number, (email, browser) in enumerate(submitters.items())
    ]
    threads += [
        threading.Thread(
            target=poller,
            kwargs={
                "tally": tally,
                "board": board,
                "url": url,
                "tab": tab_of(poller_browsers[number % len(poller_browsers)]),
                "tasks": tasks,
                "number": number,
                "deadline": deadline,
                "interval": interval,
                "active": active,
            },
            name=f"poller-{number}",
        )
        for number in range(pollers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LoadRun(tally, board, len(active), time.monotonic() - began, time.process_time() - cpu_began)
