"""The job queue's promises with real processes: Local Arthur under gunicorn, agents as processes.

- an agent killed (SIGKILL) in the middle of a job: another agent completes that job, once;
- killed after its engine writes were committed but before the job's result reached the control
  plane (a patch's rule, a regenerated key): the next attempt finishes the job without applying the
  writes again;
- Local Arthur stopped and started again while jobs are queued and running: every job completes,
  none is lost, none runs twice (the agents keep retrying while it is away);
- four agents draining 500 jobs on PostgreSQL: every job runs exactly once, dequeued by one agent.

Jobs are submitted over HTTP by the demo service account, as the dashboard submits them; the outcome
is read back over HTTP and, for whole-queue counts, from the test's own database.
CI sizes are the defaults; ``SOAK=1`` (``make soak``) runs the long versions, and each size can be
set alone: REL_JOBS_KILLS, REL_JOBS_RESTARTS, REL_JOBS_RESTART_JOBS, REL_JOBS_DRAIN_JOBS, REL_JOBS_AGENTS.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability.processes import (
    DEMO_MODELS,
    SOAK,
    agents,  # noqa: F401 (fixture)
    env_int,
    fresh_database,  # noqa: F401 (fixture)
    holding_proxy,  # noqa: F401 (fixture)
    query,
    seeded_template,  # noqa: F401 (fixture)
    start_arthur,  # noqa: F401 (fixture)
    wait_all_terminal,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KILLS = env_int("REL_JOBS_KILLS", 5 if SOAK else 1)
RESTARTS = env_int("REL_JOBS_RESTARTS", 5 if SOAK else 1)
RESTART_JOBS = env_int("REL_JOBS_RESTART_JOBS", 1000 if SOAK else 120)
DRAIN_JOBS = env_int("REL_JOBS_DRAIN_JOBS", 5000 if SOAK else 500)
DRAIN_AGENTS = env_int("REL_JOBS_AGENTS", 4)
# A killed agent's run is given up after this many silent seconds; the other tests never need it.
SHORT_LEASE = 3
LONG_LEASE = 60


def keyword_rule(name: str) -> dict:
    return {
        "name": name,
        "type": "KeywordRule",
        "apply_to_prompt": True,
        "apply_to_response": False,
        "config": {"keywords": [name.lower()]},
    }


def engine_rule_counts(database: str, names: list[str]) -> Counter:
    """How many live engine rules carry each name (a patch applied twice would add its rule twice)."""
    rows = query(
        database, "SELECT name FROM dataplane_enginerule WHERE NOT is_archived AND name = ANY(%s)", list(names)
    )
    return Counter(name for (name,) in rows)


def runs_by_job(database: str, job_ids: list[str]) -> dict[str, list[tuple[int, str]]]:
    rows = query(
        database,
        "SELECT job_id::text, job_attempt, state FROM controlplane_jobrun WHERE job_id = ANY(%s::uuid[])"
        " ORDER BY job_attempt",
        job_ids,
    )
    runs: dict[str, list[tuple[int, str]]] = {job_id: [] for job_id in job_ids}
    for job_id, attempt, state in rows:
        runs[job_id].append((attempt, state))
    return runs


def assert_each_ran_exactly_once(database: str, job_ids: list[str], started: Counter) -> None:
    """Every job completed in its first attempt, with one run, started by exactly one agent."""
    rows = query(database, "SELECT id::text, state, attempts FROM controlplane_job WHERE id = ANY(%s::uuid[])", job_ids)
    assert len(rows) == len(job_ids)
    not_once = {job_id: (state, attempts) for job_id, state, attempts in rows if (state, attempts) != ("completed", 1)}
    assert not_once == {}, f"{len(not_once)} jobs not completed in exactly one attempt"
    runs = runs_by_job(database, job_ids)
    assert {job_id: r for job_id, r in runs.items() if r != [(1, "completed")]} == {}
    # The agents' own logs: each job was begun once, by one agent, across every agent process.
    assert {job_id: n for job_id, n in started.items() if n != 1} == {}
    assert set(started) == set(job_ids)


def submit(api, calls: list, threads: int = 4) -> list[str]:
    """Submit jobs concurrently (``calls`` are ``(client method name, args)``); returns their ids in order."""
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda call: getattr(api, call[0])(*call[1]).job_id, calls))


def test_an_agent_killed_mid_job_leaves_it_to_another_that_completes_it_once(
    start_arthur,  # noqa: F811 (the fixtures imported above)
    agents,  # noqa: F811
    holding_proxy,  # noqa: F811
) -> None:
    arthur = start_arthur(lease_seconds=SHORT_LEASE)
    api = arthur.client()
    model_id = DEMO_MODELS[0]
    for kill in range(KILLS):
        rule_name = f"Added Once {kill}"
        # The doomed agent reaches Local Arthur through a proxy that holds the patch's first step
        # (reading the scope model): the job is dequeued, its run started and logging, and the agent
        # is inside the executor when it is killed.
        proxy = holding_proxy(arthur.url, lambda method, path: method == "GET" and path == f"/api/v1/models/{model_id}")
        doomed = agents(arthur, via=proxy.url)
        job_id = api.patch_task(model_id, {"rules_to_add": [keyword_rule(rule_name)]}).job_id
        wait_until(proxy.holding.is_set, timeout=60, what="the doomed agent to reach the held step")
        (first_run,) = api.get_job_runs(job_id).records
        assert first_run.state == "running" and first_run.job_attempt == 1
        assert api.get_job(job_id).state == "running"
        wait_until(
            lambda doomed=doomed, job_id=job_id: doomed.started_jobs() == [job_id],
            timeout=10,
            what="the doomed agent's log",
        )

        survivor = agents(arthur)
        doomed.kill()
        assert doomed.process.returncode == -9

        wait_until(lambda job_id=job_id: api.get_job(job_id).is_terminal, timeout=60, what="the job to finish")
        job = api.get_job(job_id)
        assert (job.state, job.attempts) == ("completed", 2)
        runs = api.get_job_runs(job_id).records
        assert [(run.id, run.job_attempt, run.state) for run in runs] == [
            (first_run.id, 1, "failed"),
            (runs[1].id, 2, "completed"),
        ]
        errors = [item.error for item in api.get_job_errors(job_id, first_run.id).records]
        assert errors == [f"Job run {first_run.id} stopped reporting; its lease expired."]
        # Applied once: one such rule in the engine and in the control plane's cache of the task.
        assert engine_rule_counts(arthur.database, [rule_name]) == {rule_name: 1}
        cached = [rule.name for rule in api.get_task_state_cache(model_id).task.rules]
        assert cached.count(rule_name) == 1
        assert survivor.stop() == 0
        assert survivor.started_jobs() == [job_id]
        assert doomed.started_jobs() == [job_id]


def applied_markers(database: str, job_id: str) -> int:
    """How many "job applied" markers the engine store keeps for the job (one while it is unfinished)."""
    ((count,),) = query(database, "SELECT count(*) FROM dataplane_appliedjob WHERE job_id = %s::uuid", job_id)
    return count


def run_logs(api, job_id: str, run_id: str) -> list[str]:
    return [line.log for line in api.get_job_logs(job_id, run_id).records]


@pytest.mark.parametrize(
    "held",
    [
        pytest.param(lambda model_id: ("PUT", f"/api/v1/models/{model_id}/task/cache"), id="task-cache-put"),
        pytest.param(lambda model_id: ("PUT", "/api/v1/jobs/"), id="job-state-put"),
    ],
)
def test_an_agent_killed_after_its_engine_writes_leaves_a_job_that_another_completes_without_reapplying(
    start_arthur,  # noqa: F811
    agents,  # noqa: F811
    holding_proxy,  # noqa: F811
    held,
) -> None:
    arthur = start_arthur(lease_seconds=SHORT_LEASE)
    api = arthur.client()
    model_id = DEMO_MODELS[1]
    rule_name = "Written Before The Kill"
    held_method, held_path = held(model_id)
    # The doomed agent's engine transaction (the rule and the job's "applied" marker) is committed;
    # the proxy holds the call after it: the task cache upload, or the final job-state report.
    proxy = holding_proxy(
        arthur.url, lambda method, path: method == held_method and path.split("?")[0].startswith(held_path)
    )
    doomed = agents(arthur, via=proxy.url)
    job_id = api.patch_task(model_id, {"rules_to_add": [keyword_rule(rule_name)]}).job_id
    wait_until(proxy.holding.is_set, timeout=60, what="the doomed agent to reach the held call")
    assert proxy.held is not None and proxy.held.method == "PUT"
    # The engine writes are in, the result is not: exactly the window a plain retry would repeat.
    assert engine_rule_counts(arthur.database, [rule_name]) == {rule_name: 1}
    assert applied_markers(arthur.database, job_id) == 1
    (first_run,) = api.get_job_runs(job_id).records
    assert (first_run.job_attempt, first_run.state) == (1, "running")

    survivor = agents(arthur)
    doomed.kill()
    assert doomed.process.returncode == -9

    wait_until(lambda: api.get_job(job_id).is_terminal, timeout=60, what="the job to finish")
    job = api.get_job(job_id)
    assert (job.state, job.attempts) == ("completed", 2)
    runs = api.get_job_runs(job_id).records
    assert [(run.job_attempt, run.state) for run in runs] == [(1, "failed"), (2, "completed")]
    assert runs[0].id == first_run.id
    # Applied once: one such rule in the engine and in the control plane's cache of the task.
    assert engine_rule_counts(arthur.database, [rule_name]) == {rule_name: 1}
    cached = [rule.name for rule in api.get_task_state_cache(model_id).task.rules]
    assert cached.count(rule_name) == 1
    second_logs = run_logs(api, job_id, runs[1].id)
    assert any("were applied by an earlier attempt" in line for line in second_logs), second_logs
    assert not any(line.startswith("Added rule") for line in second_logs)
    assert survivor.stop() == 0
    assert survivor.started_jobs() == [job_id] and doomed.started_jobs() == [job_id]
    # The completed job's marker is dropped once the control plane has taken its result.
    assert applied_markers(arthur.database, job_id) == 0


def test_an_agent_killed_before_storing_a_regenerated_key_leaves_one_new_active_key(
    start_arthur,  # noqa: F811
    agents,  # noqa: F811
    holding_proxy,  # noqa: F811
) -> None:
    arthur = start_arthur(lease_seconds=SHORT_LEASE)
    api = arthur.client()
    model_id = DEMO_MODELS[2]
    old_key_id = api.get_task_connection_info(model_id).validation_key.id
    (task_id,) = query(
        arthur.database, "SELECT task_id::text FROM dataplane_engineapikey WHERE id = %s::uuid", old_key_id
    )[0]

    def keys() -> list[tuple[str, bool]]:
        return query(
            arthur.database,
            "SELECT id::text, is_active FROM dataplane_engineapikey WHERE task_id = %s::uuid ORDER BY created_at",
            task_id,
        )

    before = keys()
    path = f"/api/v1/models/{model_id}/task/connection_info"
    proxy = holding_proxy(arthur.url, lambda method, held_path: method == "PUT" and held_path.startswith(path))
    doomed = agents(arthur, via=proxy.url)
    job_id = api.post_regenerate_validation_key(model_id).job_id
    wait_until(proxy.holding.is_set, timeout=60, what="the doomed agent to reach the connection-info PUT")
    created = [key for key in keys() if key not in before]
    assert len(created) == 1 and created[0][1] is True  # the new key is committed, not yet stored
    survivor = agents(arthur)
    doomed.kill()

    wait_until(lambda: api.get_job(job_id).is_terminal, timeout=60, what="the job to finish")
    job = api.get_job(job_id)
    assert (job.state, job.attempts) == ("completed", 2)
    # The retry stored the key the killed attempt made (no third key) and deactivated the old one.
    assert api.get_task_connection_info(model_id).validation_key.id == created[0][0]
    after = dict(keys())
    assert len(after) == len(before) + 1
    assert [key_id for key_id, active in after.items() if active] == [created[0][0]]
    assert survivor.stop() == 0


def test_local_arthur_restarted_with_jobs_queued_loses_none_and_runs_none_twice(start_arthur, agents) -> None:  # noqa: F811
    arthur = start_arthur(lease_seconds=LONG_LEASE)
    api = arthur.client()
    workers = [agents(arthur), agents(arthur)]
    names = [f"Restart Rule {index}" for index in range(RESTART_JOBS)]
    calls = [
        ("patch_task", (DEMO_MODELS[index % len(DEMO_MODELS)], {"rules_to_add": [keyword_rule(name)]}))
        for index, name in enumerate(names)
    ]
    job_ids = submit(api, calls)
    assert len(set(job_ids)) == RESTART_JOBS

    def completed() -> int:
        (count,) = query(
            arthur.database,
            "SELECT count(*) FROM controlplane_job WHERE state = 'completed' AND id = ANY(%s::uuid[])",
            job_ids,
        )[0]
        return count

    for restart in range(1, RESTARTS + 1):
        # Stop while the agents are busy: some jobs done, some running, the rest queued.
        target = RESTART_JOBS * restart // (RESTARTS + 2)
        wait_until(lambda target=target: completed() >= target, timeout=120, what=f"{target} completed jobs")
        assert completed() < RESTART_JOBS, "the queue drained before the restart; submit more jobs"
        arthur.stop()
        time.sleep(2)  # the agents find nobody home and keep trying
        assert all(worker.process.poll() is None for worker in workers)
        arthur.start()

    states = wait_all_terminal(arthur.database, job_ids, timeout=120 + RESTART_JOBS * 0.5)
    assert Counter(states.values()) == {"completed": RESTART_JOBS}
    for worker in workers:
        assert worker.stop() == 0
    # The agents did find Local Arthur gone (and kept trying) while it was down.
    assert all("Connection refused" in worker.output() for worker in workers)
    started = Counter(job_id for worker in workers for job_id in worker.started_jobs())
    assert_each_ran_exactly_once(arthur.database, job_ids, started)
    assert engine_rule_counts(arthur.database, names) == dict.fromkeys(names, 1)
    cached = Counter(rule.name for model_id in DEMO_MODELS for rule in api.get_task_state_cache(model_id).task.rules)
    assert {name: cached[name] for name in names} == dict.fromkeys(names, 1)


def test_agent_processes_drain_a_big_queue_exactly_once(start_arthur, agents) -> None:  # noqa: F811
    arthur = start_arthur(lease_seconds=LONG_LEASE)
    api = arthur.client()
    # The agents poll from the start and compete for every job as it is submitted (four at a time).
    workers = [agents(arthur) for _ in range(DRAIN_AGENTS)]
    job_ids = submit(api, [("sync_task", (DEMO_MODELS[index % len(DEMO_MODELS)],)) for index in range(DRAIN_JOBS)])
    assert len(set(job_ids)) == DRAIN_JOBS
    states = wait_all_terminal(arthur.database, job_ids, timeout=120 + DRAIN_JOBS * 0.5)
    assert Counter(states.values()) == {"completed": DRAIN_JOBS}
    for worker in workers:
        assert worker.stop() == 0
    per_agent = [worker.started_jobs() for worker in workers]
    assert all(per_agent), [len(jobs) for jobs in per_agent]  # every agent took part
    assert_each_ran_exactly_once(arthur.database, job_ids, Counter(j for jobs in per_agent for j in jobs))
