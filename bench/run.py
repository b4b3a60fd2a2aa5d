"""``make bench``: start the production-like stack at scale, measure, judge against the budgets.

Everything is measured side by side in one run and reported against a ceiling measured on the same
server in the same run (``bench.views.ceiling``): the machine is shared and noisy, so only ratios and
percentiles mean anything. Writes ``bench/results.json`` and prints the table.

    python -m bench.run [--seconds 6] [--clients 8] [--jobs 30] [--single] [--profile]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import re
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from bench import cpu, server
from bench.load import DEGRADED_MARKERS, OK_STATUSES, LoadGenerator, LoadResult, Target
from bench.signin import cookie_header, sign_in
from bench.stats import BUDGETS, ratio, summarize, throughput

RESULTS = Path(__file__).resolve().parent / "results.json"
# Who triggered the seeded jobs; the clients are the scale seed's people, one per client.
JOB_OWNER = "admin@example.com"
UPSTREAM_PROBES = 5
JOB_TIMEOUT_SECONDS = 30.0
# How often the harness looks at the tracker while a job runs (finer than the browser's 1 s poll, so
# the figure is the system's latency and not the poll cadence's).
JOB_OBSERVE_INTERVAL = 0.1
HX = {"HX-Request": "true"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="load duration per target (default 6)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients per target (default 8)")
    parser.add_argument("--max-requests", type=int, default=20000, help="request cap per target")
    parser.add_argument("--jobs", type=int, default=30, help="sync jobs timed end to end (default 30)")
    parser.add_argument("--agents", type=int, default=2, help="data-plane agent processes (default 2)")
    parser.add_argument("--single", action="store_true", help="one gunicorn for dashboard and Arthur (bin/serve)")
    parser.add_argument("--profile", action="store_true", help="profile the pages whose budgets are missed")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 0 when every budget is met, 1 otherwise."""
    args = parse_args(argv)
    began = time.monotonic()
    server.clean_var()
    database_url = server.choose_database()
    web_url = f"http://127.0.0.1:{server.free_port()}"
    arthur_url = web_url if args.single else f"http://127.0.0.1:{server.free_port()}"
    redis_url = server.fresh_cache()
    env = server.bench_env(web_url=web_url, arthur_url=arthur_url, database_url=database_url, redis_url=redis_url)
    print(
        f"bench: fresh database {database_url.split('@')[-1]}, cache {redis_url or 'per-process memory'}; "
        f"dashboard {web_url}, Local Arthur {arthur_url}"
    )
    server.fresh_database(database_url)
    server.prepare(env)
    seed = _seed(env, web_url=web_url, people=args.clients)
    print(f"bench: seeded in {time.monotonic() - began:.0f}s; starting gunicorn and {args.agents} agents")
    stack = server.start(env, web_url=web_url, arthur_url=arthur_url, agents=args.agents)
    try:
        people = [Person.sign_in(stack, email) for email in seed["people"]]
        results = measure(stack, seed, args, people)
        if args.profile:
            from bench.profile import profile_misses

            first = people[0]
            results["profiles"] = profile_misses(stack, seed, results, cookie=first.cookie, token=first.token)
    finally:
        server.stop(stack)
    results["meta"] = _meta(args, database_url, stack, time.monotonic() - began)
    args.output.write_text(json.dumps(results, indent=2, default=str))
    print(render_table(results))
    print(f"bench: wrote {args.output} in {time.monotonic() - began:.0f}s")
    return 0 if all(row["verdict"] == "PASS" for row in results["budgets"]) else 1


def _seed(env: dict[str, str], *, web_url: str, people: int) -> dict[str, Any]:
    """Demo seed, engine seed and the scale seed (with ``people`` people), in this process with the
    stack's settings."""
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections

    from bench.seed_scale import seed_scale
    from controlplane.seed import seed_demo
    from dataplane.seed import seed_engine

    seed_demo(dashboard_url=web_url)
    seed_engine()
    seeded = seed_scale(
        engine_url=f"{env['ARTHUR_HOST']}/engine",
        person=JOB_OWNER,
        people=people,
        password=settings.LOCAL_ARTHUR_DEMO_PASSWORD,
    ).as_dict()
    connections.close_all()  # the load processes are spawned, but let nothing hold the database
    return seeded


@dataclass(frozen=True)
class Person:
    """The signed-in person: a browser-like session, its Cookie header, and a bearer token of the same
    identity minted by Local Arthur (for its API and, without a dashboard sync form, job submits)."""

    browser: requests.Session
    cookie: str
    token: str

    @classmethod
    def sign_in(cls, stack: server.Stack, email: str) -> Person:
        """Through the real sign-in flow. Raises bench.signin.SignInFailed."""
        from django.conf import settings

        from controlplane.identity.models import PlatformUser
        from controlplane.identity.tokens import issue_access_token

        browser = sign_in(stack.web_url, email=email, password=settings.LOCAL_ARTHUR_DEMO_PASSWORD)
        user = PlatformUser.objects.get(email=email)
        token = issue_access_token(user, client_id=settings.ARTHUR_CLIENT_ID, expires_in=3600).access_token
        return cls(browser=browser, cookie=cookie_header(browser, stack.web_url), token=token)


# --- measuring --------------------------------------------------------------------------------


def measure(
    stack: server.Stack, seed: dict[str, Any], args: argparse.Namespace, people: list[Person]
) -> dict[str, Any]:
    """Every figure of the issue, in one run (client ``i`` is person ``i``; single-person figures use
    the first). Returns the results document (without ``meta``)."""
    browser, token = people[0].browser, people[0].token
    targets = dashboard_targets(stack.web_url, seed, tuple({"Cookie": person.cookie} for person in people))
    targets.append(
        Target(
            "arthur_task",
            f"{stack.arthur_url}/api/v1/models/{seed['big_model_id']}/task",
            {"Accept": "application/json"},
            tuple({"Authorization": f"Bearer {person.token}"} for person in people),
        )
    )
    for target in targets:
        _check(target)
    loads = {}
    # The ceiling is measured first and again last: the reference is their mean, and their spread
    # shows how much the machine's other load moved during the run.
    ceiling_again = Target("ceiling_again", targets[0].url, targets[0].headers, targets[0].per_client)
    # The two projects pages are compared with each other, so they are driven together (each client
    # alternates between them): both see the same load, whatever else the machine does meanwhile.
    paired = {"projects_20", "projects_2000"}
    phases = [[t] for t in targets if t.name not in paired]
    phases += [[t for t in targets if t.name in paired], [ceiling_again]]
    cpu_by_phase = {}
    with LoadGenerator(args.clients) as generator:
        for phase in phases:
            before = cpu.snapshot(stack.groups) if cpu.available() else None
            results = generator.run_paired(phase, seconds=args.seconds, max_requests=args.max_requests)
            if before is not None:
                spent = cpu.per_request(before, cpu.snapshot(stack.groups), sum(result.ok for result in results))
                cpu_by_phase.update({target.name: spent for target in phase})
            for target, result in zip(phase, results, strict=True):
                loads[target.name] = result
                print(f"bench: {target.name:<14} {_short(result)}")
    reference = (_rps(loads["ceiling"]) + _rps(loads["ceiling_again"])) / 2
    rows = {name: _row(result, reference) for name, result in loads.items()}
    for name, spent in cpu_by_phase.items():
        rows[name]["cpu_ms"] = spent
    for target in targets:
        if target.name not in {"ceiling", "arthur_task"}:
            rows[target.name]["upstream_calls"] = upstream_calls(stack, target)
    for name in ("poll_running", "poll_finished"):
        rows[name]["bytes"] = len(_get(next(t for t in targets if t.name == name)).content)
    figures = _flatten(rows)
    figures["poll.max_bytes"] = max(rows["poll_running"]["bytes"], rows["poll_finished"]["bytes"])
    figures["projects.latency_ratio"] = ratio(rows["projects_2000"]["p50_ms"], rows["projects_20"]["p50_ms"])
    figures["projects.latency_ratio_p95"] = ratio(rows["projects_2000"]["p95_ms"], rows["projects_20"]["p95_ms"])
    first_load = first_load_weight(browser, next(t for t in targets if t.name == "task_page").url)
    figures["first_load.raw_bytes"] = first_load["raw_bytes"]
    figures["first_load.gzip_bytes"] = first_load["gzip_bytes"]
    jobs = job_end_to_end(stack, seed, browser, token, count=args.jobs)
    figures.update({f"job_e2e.{key}": value for key, value in jobs.items() if isinstance(value, int | float)})
    return {
        "seed": seed,
        "targets": rows,
        "first_load": first_load,
        "job_e2e": jobs,
        "figures": figures,
        "budgets": [budget.judge(figures) for budget in BUDGETS],
    }


def dashboard_targets(web_url: str, seed: dict[str, Any], cookies: tuple[dict[str, str], ...]) -> list[Target]:
    """The dashboard's measured URLs, in the order they are driven (the ceiling first); ``cookies``
    holds each person's Cookie header, one person per client."""
    task = f"{web_url}/projects/{seed['project_id']}/tasks/{seed['big_model_id']}/"
    return [
        Target("ceiling", f"{web_url}/bench/ceiling", {}, cookies),
        Target("poll_running", f"{web_url}/jobs/{seed['running_job_id']}/poll", HX, cookies),
        Target("poll_finished", f"{web_url}/jobs/{seed['finished_job_id']}/poll", HX, cookies),
        Target("task_page", task, {}, cookies),
        Target("projects_20", f"{web_url}/?workspace={seed['small_workspace_id']}", {}, cookies),
        Target("projects_2000", f"{web_url}/?workspace={seed['large_workspace_id']}", {}, cookies),
    ]


def _get(target: Target, extra: dict[str, str] | None = None) -> requests.Response:
    """One request as the first client (the first person) sends it."""
    headers = {**target.headers_of(0), **(extra or {})}
    return requests.get(target.url, headers=headers, timeout=30, allow_redirects=False)


def _check(target: Target) -> None:
    """One request first: a target that does not answer as designed would make its figures meaningless."""
    response = _get(target)
    if response.status_code not in OK_STATUSES or any(m in response.content for m in DEGRADED_MARKERS):
        raise RuntimeError(f"{target.name}: {target.url} answered {response.status_code}: {response.text[:300]}")


def _rps(result: LoadResult) -> float:
    return throughput(result.ok, result.wall_seconds)


def _row(result: LoadResult, ceiling_rps: float) -> dict[str, Any]:
    rps = _rps(result)
    row: dict[str, Any] = {
        "clients": result.clients,
        "requests": result.ok,
        "bad": result.bad,
        "degraded": result.degraded,
        "statuses": result.statuses,
        "rps": rps,
        "ratio": ratio(rps, ceiling_rps),
    }
    if result.latencies:
        summary = summarize(result.latencies)
        row.update(p50_ms=summary.p50_ms, p95_ms=summary.p95_ms, p99_ms=summary.p99_ms, max_ms=summary.max_ms)
    return row


def _short(result: LoadResult) -> str:
    rps = throughput(result.ok, result.wall_seconds)
    p95 = summarize(result.latencies).p95_ms if result.latencies else float("nan")
    return f"{rps:8.1f} req/s  p95 {p95:7.1f} ms  ({result.ok} ok, {result.bad} bad)"


def _flatten(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        f"{name}.{key}": value
        for name, row in rows.items()
        for key, value in row.items()
        if isinstance(value, int | float) or value is None
    }


def upstream_calls(stack: server.Stack, target: Target) -> int:
    """The most calls to Arthur's API one request to ``target`` caused, over a few requests.

    Counted where they arrive: each dashboard request carries its own X-Request-ID, which
    ``arthur_api`` forwards on every call it makes, and Local Arthur's gunicorn access log records it.
    """
    request_ids = [f"bench-{target.name.replace('_', '-')}-{i}-{secrets.token_hex(4)}" for i in range(UPSTREAM_PROBES)]
    for request_id in request_ids:
        response = _get(target, {"X-Request-ID": request_id})
        if response.status_code not in OK_STATUSES:
            raise RuntimeError(f"{target.name}: probe answered {response.status_code}")
    time.sleep(0.5)  # the access log is written after each response is sent
    log = stack.arthur_access_log.read_text()
    return max(count_api_calls(log, request_id) for request_id in request_ids)


API_CALL = re.compile(r'"[A-Z]+ /api/v1/\S* HTTP/[0-9.]+" .* rid=(\S+)')


def count_api_calls(access_log: str, request_id: str) -> int:
    """How many requests to ``/api/v1/`` in a gunicorn access log carry ``request_id``."""
    return sum(1 for match in API_CALL.finditer(access_log) if match.group(1) == request_id)


def first_load_weight(browser: requests.Session, page_url: str) -> dict[str, Any]:
    """The task page's HTML plus every stylesheet and script it links: bytes raw and as gzip.

    Static files are fetched twice (identity, then gzip as a browser asks); their gzip size is what
    whitenoise sent. Django does not compress HTML here, so the HTML's gzip figure is computed.
    """
    page = browser.get(page_url, timeout=30)
    html = page.content
    assets = linked_assets(html)
    parts = [{"url": page_url, "raw": len(html), "gzip": len(gzip.compress(html)), "served_gzip": False}]
    for asset in assets:
        url = requests.compat.urljoin(page_url, asset.decode())
        raw = browser.get(url, headers={"Accept-Encoding": "identity"}, timeout=30)
        packed = browser.get(url, headers={"Accept-Encoding": "gzip"}, timeout=30, stream=True)
        wire = packed.raw.read(decode_content=False)
        served = packed.headers.get("Content-Encoding") == "gzip"
        parts.append(
            {
                "url": url,
                "raw": len(raw.content),
                "gzip": len(wire) if served else len(gzip.compress(raw.content)),
                "served_gzip": served,
                "cache_control": raw.headers.get("Cache-Control", ""),
            }
        )
    return {
        "parts": parts,
        "raw_bytes": sum(part["raw"] for part in parts),
        "gzip_bytes": sum(part["gzip"] for part in parts),
    }


def linked_assets(html: bytes) -> list[bytes]:
    """The stylesheets and scripts a page loads (their href/src, in page order: styles, then scripts)."""
    styles = re.findall(rb'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"', html)
    return styles + re.findall(rb'<script[^>]+src="([^"]+)"', html)


TRACKER_ID = re.compile(r'id="tracker-([0-9a-f-]{36})"')
JOB_STATE = re.compile(r'data-job-state="([a-z]+)"')


def job_end_to_end(
    stack: server.Stack, seed: dict[str, Any], browser: requests.Session, token: str, *, count: int
) -> dict[str, Any]:
    """Submit ``count`` syncs of the big task one after another; time each until the tracker says completed.

    Submitted through the dashboard's sync form when the task page has one, else through the API with
    the person's token; either way completion is what the dashboard's poll fragment reports.
    """
    task_url = f"{stack.web_url}/projects/{seed['project_id']}/tasks/{seed['big_model_id']}/"
    form = _sync_form(browser, task_url)
    via = "dashboard sync form" if form else "API POST /models/{id}/task/sync (person's token)"
    seconds: list[float] = []
    at_cadence: list[float] = []
    outcomes: dict[str, int] = {}
    for _ in range(count):
        began = time.perf_counter()
        job_id = _submit_sync(browser, stack, seed, token, form, task_url)
        submitted = time.perf_counter() - began
        state = _await_tracker(browser, f"{stack.web_url}/jobs/{job_id}/poll")
        outcomes[state] = outcomes.get(state, 0) + 1
        if state == "completed":
            seconds.append(time.perf_counter() - began)
            at_cadence.append(browser_cadence_estimate(submitted, seconds[-1]))
    result: dict[str, Any] = {"via": via, "jobs": count, "outcomes": outcomes, "completed": len(seconds)}
    if seconds:
        summary = summarize(seconds)
        result.update(p50_ms=summary.p50_ms, p95_ms=summary.p95_ms, max_ms=summary.max_ms)
        result["browser_cadence_p50_ms"] = summarize(at_cadence).p50_ms
    if len(seconds) < count:
        result["p50_ms"] = result["p95_ms"] = None  # a job that did not complete has no place in a percentile
    return result


def browser_cadence_estimate(submitted: float, completed: float, *, delay: float = 1.0) -> float:
    """When a browser would show the end: its tracker polls ``delay`` s after the submit answer and
    after each poll (the tracker's delay is 1 s for a job's first 10 s), so it sees a job that ended
    at ``completed`` at the first poll after it. An estimate (poll round trips are not added)."""
    polls = max(1, math.ceil((completed - submitted) / delay))
    return submitted + polls * delay


def _sync_form(browser: requests.Session, task_url: str) -> dict[str, str] | None:
    return sync_form_in(browser.get(task_url, timeout=30).text, task_url)


def sync_form_in(page: str, page_url: str) -> dict[str, str] | None:
    """The page's sync form: its absolute ``action`` and its fields' values, or None when it has none."""
    for form in re.findall(r"<form\b[^>]*>.*?</form>", page, flags=re.S):
        action = re.search(r'action="([^"]*sync[^"]*)"', form)
        if action and re.search(r'method="post"', form, flags=re.I):
            fields = dict(re.findall(r'<input[^>]+name="([^"]+)"[^>]+value="([^"]*)"', form))
            return {"action": requests.compat.urljoin(page_url, action.group(1)), **fields}
    return None


def _submit_sync(
    browser: requests.Session,
    stack: server.Stack,
    seed: dict[str, Any],
    token: str,
    form: dict[str, str] | None,
    task_url: str,
) -> str:
    if form:
        fields = {key: value for key, value in form.items() if key != "action"}
        if "idempotency_key" in fields:
            fields["idempotency_key"] = secrets.token_hex(16)
        response = browser.post(form["action"], data=fields, headers={**HX, "Referer": task_url}, timeout=30)
        found = TRACKER_ID.search(response.text)
        if response.status_code >= 400 or found is None:
            raise RuntimeError(f"sync form answered {response.status_code} without a tracker: {response.text[:300]}")
        return found.group(1)
    response = requests.post(
        f"{stack.arthur_url}/api/v1/models/{seed['big_model_id']}/task/sync",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["job_id"]


def _await_tracker(browser: requests.Session, poll_url: str) -> str:
    """Poll the tracker fragment until it stops polling (286); returns the job's final state."""
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        response = browser.get(poll_url, headers=HX, timeout=30)
        if response.status_code == 286:
            found = JOB_STATE.search(response.text)
            return found.group(1) if found else "unknown"
        time.sleep(JOB_OBSERVE_INTERVAL)
    return "timed out"


# --- reporting --------------------------------------------------------------------------------


def _meta(args: argparse.Namespace, database_url: str, stack: server.Stack, elapsed: float) -> dict[str, Any]:
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds_total": round(elapsed, 1),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "database": database_url.split("://")[0],
        "cache": "redis" if "REDIS_URL" in stack.env else "per-process memory (no Redis)",
        "topology": "split: dashboard and Local Arthur in two gunicorn instances" if stack.split else "single gunicorn",
        "gunicorn": "dashboard/gunicorn.conf.py (workers max(2, cpus), threads max(4, 2*cpus); WEB_CONCURRENCY "
        f"{stack.env.get('WEB_CONCURRENCY', 'unset')}, GUNICORN_THREADS {stack.env.get('GUNICORN_THREADS', 'unset')}), "
        "worker recycling (max_requests) off for the run",
        "agents": args.agents,
        "clients": args.clients,
        "people": f"{args.clients} people, one per client (organization admins)",
        "seconds_per_target": args.seconds,
        "python": sys.version.split()[0],
    }


LABELS = {
    "ceiling": "ceiling (bench/ceiling), first",
    "ceiling_again": "ceiling again, last",
    "poll_running": "poll fragment, running job",
    "poll_finished": "poll fragment, finished job",
    "task_page": "task page (300 rules)",
    "projects_20": "projects p1 of 20 (paired)",
    "projects_2000": "projects p1 of 2,000 (paired)",
    "arthur_task": "Arthur GET /models/{id}/task",
}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_table(results: dict[str, Any]) -> str:
    """The printed report: throughput and latency per target, the other figures, then the budgets."""
    meta = results.get("meta", {})
    lines = [
        "",
        f"Arthur Tasks bench - {meta.get('finished_at', '')} - {meta.get('cpus')} cpus, load "
        f"{' '.join(f'{x:.2f}' for x in meta.get('load_average', ()))} - {meta.get('database')}, "
        f"cache {meta.get('cache')} - "
        f"{meta.get('topology')} - {meta.get('clients')} clients (one person each) x {meta.get('seconds_per_target')}s "
        "per target",
        f"gunicorn: {meta.get('gunicorn')}",
        "",
        "x ceil: throughput / mean of the two ceiling runs",
        f"{'target':<30} {'req/s':>8} {'x ceil':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'ok':>6} {'bad':>4} {'upstream':>8} {'bytes':>6}",
    ]
    for name, row in results["targets"].items():
        lines.append(
            f"{LABELS.get(name, name):<30} {_fmt(row['rps']):>8} {_fmt(row['ratio'], 3):>7} "
            f"{_fmt(row.get('p50_ms')):>8} {_fmt(row.get('p95_ms')):>8} {_fmt(row.get('p99_ms')):>8} "
            f"{row['requests']:>6} {row['bad']:>4} {_fmt(row.get('upstream_calls')):>8} {_fmt(row.get('bytes')):>6}"
        )
    lines += _cpu_lines(results["targets"], meta.get("cpus"))
    figures, jobs, first = results["figures"], results["job_e2e"], results["first_load"]
    lines += [
        "",
        f"projects p1 of 2,000 vs p1 of 20 (driven together, each client alternating): "
        f"p50 x{_fmt(figures.get('projects.latency_ratio'), 2)}, "
        f"p95 x{_fmt(figures.get('projects.latency_ratio_p95'), 2)}",
        f"job end to end ({jobs['completed']}/{jobs['jobs']} completed, one at a time, submitted via {jobs['via']}; "
        f"tracker poll fragment observed every {JOB_OBSERVE_INTERVAL:g}s): p50 {_fmt(jobs.get('p50_ms'))} ms, "
        f"p95 {_fmt(jobs.get('p95_ms'))} ms, max {_fmt(jobs.get('max_ms'))} ms; outcomes {jobs['outcomes']}; "
        f"a browser at the tracker's own 1 s poll cadence shows it at p50 "
        f"~{_fmt(jobs.get('browser_cadence_p50_ms'), 0)} ms",
        f"task page first load: {first['raw_bytes']:,} B raw, {first['gzip_bytes']:,} B gzip "
        f"({len(first['parts'])} files: "
        + ", ".join(
            f"{part['url'].rsplit('/', 1)[-1] or 'html'} {part['raw']:,}/{part['gzip']:,}"
            f"{'' if part['served_gzip'] or part is first['parts'][0] else ' (not served compressed)'}"
            for part in first["parts"]
        )
        + "; HTML gzip computed, the server sends it uncompressed)",
        "",
        f"{'budget':<50} {'value':>12} {'limit':>12}  verdict",
    ]
    for row in results["budgets"]:
        lines.append(f"{row['budget']:<50} {_fmt(row['value'], 3):>12} {row['limit']:>12}  {row['verdict']}")
    lines += _profile_lines(results.get("profiles") or {})
    return "\n".join(lines)


def _cpu_lines(targets: dict[str, dict[str, Any]], cpus: int | None) -> list[str]:
    """CPU milliseconds per request by process group (bench/cpu.py), and what that total allows: on
    ``cpus`` cores a request costing ``total`` ms cannot be served faster than cpus * 1000 / total."""
    measured = {name: row["cpu_ms"] for name, row in targets.items() if row.get("cpu_ms")}
    if not measured:
        return []
    groups = [group for group in cpu.GROUPS if group != "other"]
    lines = [
        "",
        "CPU ms per request by process (from /proc around each phase; the projects pair shares one row's "
        "figures; 'other' is the rest of the machine, not in the total; bound = cores x 1000 / total)",
        f"{'target':<30} " + " ".join(f"{group:>9}" for group in groups) + f" {'total':>7} {'bound/s':>8} {'other':>7}",
    ]
    for name, spent in measured.items():
        bound = (cpus or 1) * 1000 / spent["total"] if spent["total"] else None
        lines.append(
            f"{LABELS.get(name, name):<30} "
            + " ".join(f"{_fmt(spent.get(group), 2):>9}" for group in groups)
            + f" {_fmt(spent['total'], 2):>7} {_fmt(bound):>8} {_fmt(spent.get('other'), 2):>7}"
        )
    return lines


def _profile_lines(profiles: dict[str, Any]) -> list[str]:
    """Where the time goes in what explains each missed budget (pyinstrument, one request at a time)."""
    if not profiles:
        return []
    if "skipped" in profiles:
        return ["", f"profiles skipped: {profiles['skipped']}"]
    lines = ["", "profiles of the missed budgets' requests (in-process, one at a time; share of wall time):"]
    for name, profile in profiles.items():
        lines.append(
            f"  {name}: {profile['wall_ms_per_request']} ms wall, {profile['cpu_ms_per_request']} ms cpu "
            f"per request ({profile['file']})"
        )
        lines += [f"      {hot['share']:>6.1%}  {hot['function']}" for hot in profile["hot"]["own"][:6]]
        selfish = profile["hot"]["self"][:4]
        lines.append("      self time: " + ", ".join(f"{h['function']} {h['share']:.0%}" for h in selfish))
    return lines


if __name__ == "__main__":
    sys.exit(main())
