"""Load (issue 10): 50 tracker pollers and 5 people submitting changes for LOAD_SECONDS against bin/serve.

bin/serve runs as in production (two gunicorns with worker recycling, two agent processes) on a fresh
PostgreSQL database. Five people (admin, editor and three editors created for the load), each signed
in through the real flow, make changes through the dashboard's own forms (sync: the HTMX form with its
one-time key, every fourth one double-submitted; rule change: draft toggle → review → submit) and
watch each job's tracker until it ends, while 50 browser tabs of six signed-in people poll running and
finished jobs' trackers (and now and then load a task or job page). Afterwards:

- no answer was a 5xx, every answer had its expected status (no 429, no 403, ...), none was the
  dashboard's "Arthur is unavailable" answer in disguise, no request went unanswered, and no process
  of bin/serve logged an ERROR;
- the dashboard's ledger and Arthur's jobs match one to one: every job a submitter started is in the
  ledger exactly once with its person, kind and model; every ledger row is a job Arthur knows; Arthur
  has no other job of those kinds on those models since the load began;
- once the agents drained the queue, every ledger outcome equals Arthur's job state (and what the
  submitter's tracker last showed), and every sync completed.

LOAD_SECONDS (default 60; 600 with SOAK=1) sets the duration, LOAD_POLL_INTERVAL (default 1 s, the
tracker's fastest cadence; 0 = back to back) the pollers' wait between answers.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from arthur_api.auth import ClientCredentialsAuth
from arthur_api.client import ArthurClient
from arthur_api.records import Job
from tests.reliability.load import (
    EXPECTED,
    PATCH_KIND,
    SYNC_KIND,
    TERMINAL,
    Task,
    ledger_rows,
    run_load,
    serve,
    server_log,
    signed_in,
)
from tests.reliability.load import add_people as add_people_to

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

POLLERS = 50
SUBMITTERS = [
    "admin@example.com",
    "editor@example.com",
    "load-1@example.com",
    "load-2@example.com",
    "load-3@example.com",
]
EXTRA_PEOPLE = [email for email in SUBMITTERS if email.startswith("load-")]
# Each person signs in once (one browser); the pollers are tabs of these six browsers.
PEOPLE = [*SUBMITTERS, "viewer@example.com"]
# The demo seed's ids (stable uuid5s): support-bot in Customer Support, claims-assistant in Claims
# Automation; the editor and the extra people may change both, the viewer may read both.
TASKS = [
    Task("aee19644-a003-55b1-b302-8a02791bde47", "12ddb679-2b29-5775-bc2a-3e258292cdf6"),
    Task("a74267e5-279f-5c6a-b65c-92581dbcbe71", "486731a9-c2fb-5a2b-b6ac-84fc3425b8f0"),
]
KINDS = (SYNC_KIND, PATCH_KIND)
DRAIN_SECONDS = 120


def _seconds() -> float:
    default = "600" if os.environ.get("SOAK") == "1" else "60"
    return float(os.environ.get("LOAD_SECONDS", default))


def _api_jobs(api: ArthurClient) -> dict[str, Job]:
    """Every job of the load's kinds on the load's task models, by id (all pages)."""
    jobs: dict[str, Job] = {}
    models = {task.model_id for task in TASKS}
    for project_id in {task.project_id for task in TASKS}:
        page = 1
        while True:
            records = api.get_jobs(project_id, kinds=KINDS, page=page, page_size=1000).records
            jobs.update({job.id: job for job in records if job.job_spec.get("scope_model_id") in models})
            if len(records) < 1000:
                break
            page += 1
    return jobs


def test_load_pollers_and_submitters_see_no_5xx_and_the_ledger_matches_arthur() -> None:
    seconds = _seconds()
    interval = float(os.environ.get("LOAD_POLL_INTERVAL", "1"))
    started = time.monotonic()
    with serve(
        database_url=os.environ["DATABASE_URL"], name=f"rel_load_{os.getpid()}", redis_url="redis://127.0.0.1:6379/12"
    ) as stack:
        served = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            # The demo people sign in while the extra people are being created, then those sign in.
            adding = pool.submit(add_people_to, stack, EXTRA_PEOPLE)

            def sign_in(email: str) -> requests.Session:
                if email in EXTRA_PEOPLE:
                    adding.result()
                return signed_in(stack.url, email)

            order = sorted(PEOPLE, key=lambda email: email in EXTRA_PEOPLE)
            signing = {email: pool.submit(sign_in, email) for email in order}
            adding.result()
            added = time.monotonic()
            browsers = {email: signing[email].result() for email in PEOPLE}
        api = ArthurClient(stack.arthur, ClientCredentialsAuth("arthur-sa-demo", "arthur-sa-demo-secret", stack.arthur))
        before = set(_api_jobs(api))
        ready = time.monotonic()

        run = run_load(
            url=stack.url,
            submitters={email: browsers[email] for email in SUBMITTERS},
            poller_browsers=list(browsers.values()),
            tasks=TASKS,
            pollers=POLLERS,
            seconds=seconds,
            interval=interval,
            drain_seconds=DRAIN_SECONDS,
        )

        # The agents drain the queue (the trackers already waited for every job they showed).
        deadline = time.monotonic() + DRAIN_SECONDS
        while True:
            jobs = {job_id: job for job_id, job in _api_jobs(api).items() if job_id not in before}
            if all(job.state in TERMINAL for job in jobs.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        rows = ledger_rows(stack.database_url)
        ledger = {row["job_id"]: row for row in rows}
        log = server_log(stack.log)

    tally, board = run.tally, run.board
    submitted = board.submitted
    five_xx = tally.count(lambda kind, status: status >= 500)
    prg = tally.count(lambda kind, status: status == 302 and status in EXPECTED[kind])
    other = tally.count(lambda kind, status: not 200 <= status < 300 and status < 500) - prg
    unexpected = tally.count(lambda kind, status: status not in EXPECTED[kind])
    kinds = Counter(job.kind for job in submitted.values())
    outcomes = Counter(job.state for job in jobs.values())
    print(
        f"\nLOAD {seconds:.0f}s, {POLLERS} pollers (every {interval:g}s) + {len(SUBMITTERS)} submitters on bin/serve:"
        f" requests {dict(sorted(tally.by_kind().items()))} = {sum(tally.by_kind().values())};"
        f" 5xx {five_xx}; other non-2xx {other} (besides {prg} POST/redirect 302s); unexpected statuses {unexpected};"
        f" no answer {sum(tally.failures.values())}; degraded {sum(tally.degraded.values())};"
        f" jobs submitted {len(submitted)} (sync {kinds[SYNC_KIND]}, rule change {kinds[PATCH_KIND]};"
        f" {board.resubmits} double submits, {board.skipped_patches} empty drafts);"
        f" ledger rows {len(rows)}; Arthur jobs {len(jobs)} {dict(outcomes)};"
        f" poll p50/p95 {tally.percentile(('poll', 'tracker'), 0.5) * 1000:.0f}/"
        f"{tally.percentile(('poll', 'tracker'), 0.95) * 1000:.0f} ms;"
        f" server log: {len(log.errors)} errors, warnings {dict(log.warnings)}, {log.restarts} worker recycles;"
        f" pollers active {run.pollers_active}; client CPU {run.client_cpu_seconds / run.wall_seconds:.0%} of a core;"
        f" setup {ready - started:.0f}s (serve {served - started:.0f}s, people added {added - served:.0f}s),"
        f" load+drain {run.wall_seconds:.0f}s, total {time.monotonic() - started:.0f}s"
    )

    # Every answer was the expected one; nothing went unanswered or came back as a hidden failure.
    assert five_xx == 0, tally.problems[:20]
    assert other == 0 and unexpected == 0, tally.problems[:20]
    assert not tally.failures, tally.problems[:20]
    assert not tally.degraded, dict(tally.degraded)
    assert not tally.problems, tally.problems[:20]
    assert not log.errors, log.errors[:5]
    assert run.pollers_active == POLLERS
    assert kinds[SYNC_KIND] > 0 and kinds[PATCH_KIND] > 0, kinds

    # The ledger and Arthur's jobs, one to one.
    assert len(rows) == len(ledger), "a job id appears twice in the ledger"
    assert set(ledger) == set(submitted), {
        "not in the ledger": sorted(set(submitted) - set(ledger)),
        "not submitted": sorted(set(ledger) - set(submitted)),
    }
    for job_id, job in submitted.items():
        row = ledger[job_id]
        assert (row["email"], row["kind"], row["project_id"], row["model_id"]) == (
            job.email,
            job.kind,
            job.project_id,
            job.model_id,
        ), job_id
    assert set(jobs) == set(ledger), {
        "ledger rows Arthur does not know": sorted(set(ledger) - set(jobs)),
        "Arthur jobs not in the ledger": sorted(set(jobs) - set(ledger)),
    }
    for job_id, job in jobs.items():
        assert job.triggered_by_user is not None and job.triggered_by_user.email == submitted[job_id].email, job_id
        assert job.kind == submitted[job_id].kind and job.job_spec["scope_model_id"] == submitted[job_id].model_id

    # Drained: Arthur's states, the ledger's outcomes and the trackers' last word agree.
    assert all(job.state in TERMINAL for job in jobs.values()), outcomes
    assert {job_id: row["outcome"] for job_id, row in ledger.items()} == {j: job.state for j, job in jobs.items()}
    assert board.seen_terminal == {job_id: job.state for job_id, job in jobs.items()}
    assert all(job.state == "completed" for job in jobs.values() if job.kind == SYNC_KIND), outcomes
