"""The agent end to end: real HTTP between the agent, the control plane and the validate endpoints.

Jobs are submitted the way the dashboard submits them (the `arthur_api` client with a person's
token); the agent signs in with its own client credentials and pulls them from the live server.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests

from arthur_api.auth import BearerTokenAuth
from arthur_api.client import ArthurClient
from arthur_api.errors import ArthurNotFound

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]

WAIT_SECONDS = 20
KEYWORD_RULE = {
    "name": "Blocked Words",
    "type": "KeywordRule",
    "apply_to_prompt": True,
    "apply_to_response": True,
    "config": {"keywords": ["project falcon"]},
}


@pytest.fixture
def admin(local_arthur, api_token):
    token = api_token("admin@example.com")
    client = ArthurClient(local_arthur, BearerTokenAuth(lambda: token))
    yield client
    # Closing the kept-alive connection lets the live server's request thread end (and its DB connection).
    client.close()


@pytest.fixture
def engine_connector(admin):
    """A (project id, connector id) pair: the demo project's engine_internal connector."""
    for workspace in admin.get_workspaces().records:
        for project in admin.get_projects(workspace.id).records:
            connectors = admin.get_connectors(project.id, connector_type="engine_internal").records
            if connectors:
                return project.id, connectors[0].id
    pytest.fail("the demo seed has no project with an engine_internal connector")


def wait_for_job(client, job_id, *, timeout=WAIT_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get_job(job_id)
        if job.is_terminal:
            return job
        time.sleep(0.05)
    pytest.fail(f"job {job_id} still {job.state} after {timeout}s")


def run_logs_and_errors(client, job_id):
    (run, *_) = client.get_job_runs(job_id).records
    logs = [line.log for line in client.get_job_logs(job_id, run.id).records]
    errors = [item.error for item in client.get_job_errors(job_id, run.id).records]
    return logs, errors


def create_task(admin, project_id, connector_id, *, rules=(KEYWORD_RULE,)):
    onboarding = f"e2e-{uuid.uuid4()}"
    mutation = admin.project_create_model_task(
        project_id,
        {
            "name": "e2e-bot",
            "connector_id": connector_id,
            "onboarding_identifier": onboarding,
            "rules_to_add": list(rules),
        },
    )
    job = wait_for_job(admin, mutation.job_id)
    assert job.state == "completed", run_logs_and_errors(admin, job.id)
    (model,) = admin.get_models(project_id, onboarding_identifier=onboarding).records
    return model


def validate(api_host, task_id, key, prompt):
    # requests.post without a session: one connection per call, closed at once.
    return requests.post(
        f"{api_host}/api/v2/tasks/{task_id}/validate_prompt",
        json={"prompt": prompt},
        headers={"Authorization": f"Bearer {key}", "Connection": "close"},
        timeout=10,
    )


def rules_by_name(state):
    return {rule.name: rule for rule in state.task.rules}


def test_the_task_lifecycle_end_to_end(admin, engine_connector, dataplane_agent, local_arthur):
    project_id, connector_id = engine_connector

    # create → completed; the model appears with its cache and connection info
    model = create_task(admin, project_id, connector_id)
    state = admin.get_task_state_cache(model.id)
    assert state.task is not None and state.task.name == "e2e-bot" and state.last_synced_at is not None
    info = admin.get_task_connection_info(model.id)
    assert info.api_host == f"{local_arthur}/engine"
    key = info.validation_key.key.get_secret_value()
    task_id = state.task.id

    # validate: blocked keyword → Fail naming the rule; clean → Pass; wrong key → 401
    blocked = validate(info.api_host, task_id, key, "What is Project Falcon?")
    assert blocked.status_code == 200
    failing = [item["name"] for item in blocked.json()["rule_results"] if item["result"] == "Fail"]
    assert failing == ["Blocked Words"]
    clean = validate(info.api_host, task_id, key, "What are your opening hours?")
    assert {item["name"]: item["result"] for item in clean.json()["rule_results"]}["Blocked Words"] == "Pass"
    assert validate(info.api_host, task_id, "wrong-key", "hello").status_code == 401

    # patch: disable one rule, add a regex rule → the cache shows both
    blocked_words_id = rules_by_name(state)["Blocked Words"].id
    regex = {**KEYWORD_RULE, "name": "Ticket Numbers", "type": "RegexRule", "config": {"regex_patterns": [r"TCK-\d+"]}}
    mutation = admin.patch_task(model.id, {"rules_to_disable": [blocked_words_id], "rules_to_add": [regex]})
    assert wait_for_job(admin, mutation.job_id).state == "completed"
    patched = rules_by_name(admin.get_task_state_cache(model.id))
    assert patched["Blocked Words"].enabled is False
    assert patched["Ticket Numbers"].enabled is True and patched["Ticket Numbers"].type == "RegexRule"

    # sync after a change made directly in the engine store → the cache and last_synced_at follow
    from dataplane.store import EngineStore

    before_sync = admin.get_task_state_cache(model.id).last_synced_at
    EngineStore(api_host="").add_task_rule(task_id, {**KEYWORD_RULE, "name": "Added In The Engine"})
    assert "Added In The Engine" not in rules_by_name(admin.get_task_state_cache(model.id))
    assert wait_for_job(admin, admin.sync_task(model.id).job_id).state == "completed"
    synced = admin.get_task_state_cache(model.id)
    assert "Added In The Engine" in rules_by_name(synced)
    assert synced.last_synced_at > before_sync

    # regenerate → a new key; the old key is refused by validate
    assert wait_for_job(admin, admin.post_regenerate_validation_key(model.id).job_id).state == "completed"
    new_info = admin.get_task_connection_info(model.id)
    new_key = new_info.validation_key.key.get_secret_value()
    assert new_info.validation_key.id != info.validation_key.id and new_key != key
    assert validate(info.api_host, task_id, key, "hello").status_code == 401
    assert validate(info.api_host, task_id, new_key, "hello").status_code == 200

    # delete → model, cache and connection info gone; the key is deactivated
    assert wait_for_job(admin, admin.delete_task(model.id).job_id).state == "completed"
    for read in (admin.get_model, admin.get_task_state_cache, admin.get_task_connection_info):
        with pytest.raises(ArthurNotFound):
            read(model.id)
    assert validate(info.api_host, task_id, new_key, "hello").status_code == 401


def test_a_patch_the_engine_refuses_fails_the_job_and_changes_nothing(admin, engine_connector, dataplane_agent):
    from controlplane.jobs import enqueue_job
    from controlplane.models import JobKind, PlatformModel

    project_id, connector_id = engine_connector
    model = create_task(admin, project_id, connector_id)
    before = admin.get_task_state_cache(model.id)
    blocked_words_id = rules_by_name(before)["Blocked Words"].id
    # The control plane refuses such a rule eagerly (422), so the job is put on the queue directly,
    # as a control plane without eager validation would: the engine must refuse it itself.
    platform_model = PlatformModel.objects.select_related("project", "data_plane").get(id=model.id)
    good = {**KEYWORD_RULE, "name": "Would Be Added"}
    bad = {**KEYWORD_RULE, "name": "Broken", "type": "RegexRule", "config": {"regex_patterns": ["(unclosed"]}}
    job = enqueue_job(
        kind=JobKind.UPDATE_MODEL_TASK_RULES,
        spec={"scope_model_id": str(model.id), "rules_to_add": [good, bad], "rules_to_disable": [blocked_words_id]},
        project=platform_model.project,
        data_plane=platform_model.data_plane,
        triggered_by=None,
        model=platform_model,
    )
    finished = wait_for_job(admin, str(job.id))
    assert finished.state == "failed"
    logs, errors = run_logs_and_errors(admin, finished.id)
    assert errors == ["Invalid regex: (unclosed"]
    assert "Error executing job: Invalid regex: (unclosed" in logs
    after = admin.get_task_state_cache(model.id)
    assert after.last_synced_at == before.last_synced_at
    assert rules_by_name(after).keys() == rules_by_name(before).keys()
    # Nothing changed in the engine either: a sync shows the same rules, still enabled.
    assert wait_for_job(admin, admin.sync_task(model.id).job_id).state == "completed"
    synced = rules_by_name(admin.get_task_state_cache(model.id))
    assert synced.keys() == rules_by_name(before).keys() and synced["Blocked Words"].enabled is True


def test_a_job_whose_agent_died_is_completed_once_by_another(admin, engine_connector, start_agent, settings):
    settings.LOCAL_ARTHUR_JOB_LEASE_SECONDS = 1
    from dataplane.agent import build_agent

    project_id, connector_id = engine_connector
    mutation = admin.project_create_model_task(
        project_id, {"name": "orphaned", "connector_id": connector_id, "rules_to_add": [KEYWORD_RULE]}
    )
    # An agent that dequeues the job and then stops (it never reports again).
    dead = build_agent(stop_event=threading.Event())
    dead_run = dead.client.post_dequeue_job(dead.client.get_users_me().data_plane_id)
    dead.close()
    assert dead_run is not None and dead_run.job_id == mutation.job_id
    # The control plane renews the leases of a data plane's running runs whenever any of its agents
    # polls, so the lease can only run out while no agent of this data plane is polling.
    time.sleep(1.5)
    start_agent()
    job = wait_for_job(admin, mutation.job_id)
    assert job.state == "completed" and job.attempts == 2
    runs = {run.id: run.state for run in admin.get_job_runs(job.id).records}
    assert runs.pop(dead_run.id) == "failed"
    assert list(runs.values()) == ["completed"]
    errors = [item.error for item in admin.get_job_errors(job.id, dead_run.id).records]
    assert any("lease expired" in error for error in errors)
    assert len(admin.get_models(project_id, name="orphaned").records) == 1


def test_several_agents_share_one_queue(admin, engine_connector, start_agent):
    project_id, connector_id = engine_connector
    for _ in range(3):
        start_agent()
    model = create_task(admin, project_id, connector_id)
    job_ids = [admin.sync_task(model.id).job_id for _ in range(12)]
    for job_id in job_ids:
        job = wait_for_job(admin, job_id)
        assert job.state == "completed" and job.attempts == 1
        assert len(admin.get_job_runs(job_id).records) == 1


def test_linking_an_existing_engine_task(admin, engine_connector, dataplane_agent):
    from dataplane.store import EngineStore

    project_id, connector_id = engine_connector
    store = EngineStore(api_host="")
    task = store.create_task("made-in-the-engine")
    store.add_task_rule(task.id, KEYWORD_RULE)
    onboarding = f"link-{uuid.uuid4()}"
    mutation = admin.project_create_model_link_task(
        project_id, {"task_id": str(task.id), "connector_id": connector_id, "onboarding_identifier": onboarding}
    )
    assert wait_for_job(admin, mutation.job_id).state == "completed"
    (model,) = admin.get_models(project_id, onboarding_identifier=onboarding).records
    state = admin.get_task_state_cache(model.id)
    assert state.task.id == str(task.id) and "Blocked Words" in rules_by_name(state)
    assert [rule.id for rule in state.task.rules] == [rule["id"] for rule in store.task_response(task.id)["rules"]]
    key = admin.get_task_connection_info(model.id).validation_key.key.get_secret_value()
    assert store.authenticate_validation_key(task.id, key) is not None


def test_a_demo_task_syncs_and_validates_with_its_seeded_key(admin, dataplane_agent):
    from controlplane.seed_platform import DEMO_TASKS
    from dataplane.seed import seed_engine

    seed_engine()  # idempotent: the demo seed may already have run it
    demo = next(task for task in DEMO_TASKS if task.key == "support-bot")
    model_id = str(demo.model_id)
    cached_before = {rule.id: rule.enabled for rule in admin.get_task_state_cache(model_id).task.rules}
    assert wait_for_job(admin, admin.sync_task(model_id).job_id).state == "completed"
    synced = admin.get_task_state_cache(model_id)
    # The engine store holds exactly what the control plane's seed cached.
    assert {rule.id: rule.enabled for rule in synced.task.rules} == cached_before
    info = admin.get_task_connection_info(model_id)
    response = validate(info.api_host, str(demo.task_id), info.validation_key.key.get_secret_value(), "SSN 123-45-6789")
    assert response.status_code == 200
    failing = {item["name"] for item in response.json()["rule_results"] if item["result"] == "Fail"}
    assert "SSN Regex Rule" in failing


@pytest.mark.postgres
def test_several_agent_processes_share_one_queue_on_postgres(admin, engine_connector, local_arthur):
    import os
    import signal
    import subprocess
    import sys

    from django.conf import settings as django_settings
    from django.db import connection

    db = connection.settings_dict
    env = {
        **os.environ,
        "DASHBOARD_MODE": "test",
        "ARTHUR_HOST": local_arthur,
        # The processes must use the test database the live server uses.
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
    }
    manage = str(django_settings.BASE_DIR / "manage.py")
    agents = [
        subprocess.Popen(
            [sys.executable, manage, "dataplane", "--poll-interval", "0.05"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        project_id, connector_id = engine_connector
        model = create_task(admin, project_id, connector_id)
        job_ids = [admin.sync_task(model.id).job_id for _ in range(16)]
        for job_id in job_ids:
            job = wait_for_job(admin, job_id)
            assert job.state == "completed" and job.attempts == 1
            assert len(admin.get_job_runs(job_id).records) == 1
    finally:
        for process in agents:
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=20)[0] for process in agents]
    for process, output in zip(agents, outputs, strict=True):
        assert process.returncode == 0, output
        assert "Data-plane agent stopped." in output
        # Both processes took part (each job's first log line is also logged locally).
        assert "Starting job" in output
