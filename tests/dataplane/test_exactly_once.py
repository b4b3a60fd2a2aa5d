"""A job's engine writes are applied once per job id, whichever attempt of the job runs them.

The queue runs a job again when its agent died before the job's result reached the control plane.
A kill is simulated by `killed_at`: the agent "dies" when it makes one chosen call (an exception no
executor catches) and, as with SIGKILL, none of its rollback steps run. The next attempt is a second
run of the same executor with the same job id.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import contextmanager

import pytest

from arthur_api.errors import ArthurUnavailable
from dataplane.executors import EXECUTORS, Undo, commit_once
from dataplane.models import AppliedJob, EngineApiKey, EngineRule, EngineTask
from dataplane.store import EngineStore, unseal_secret
from tests.dataplane.fakes import FakePort, ListLog

KEYWORD_RULE = {
    "name": "Blocked words",
    "type": "KeywordRule",
    "apply_to_prompt": True,
    "apply_to_response": True,
    "config": {"keywords": ["classified"]},
}
JOB_ID = "4b0c6a5e-8a53-4c57-9c3e-8e1f6c1f0a01"
RESUMED = "were applied by an earlier attempt; finishing the job"


class Killed(BaseException):
    """The agent process ending here (SIGKILL): nothing after this point runs."""


@contextmanager
def killed_at(target, method: str):
    """Kill the agent when it calls ``target.method``; no rollback step runs (SIGKILL skips them)."""

    def die(*args, **kwargs):
        raise Killed(method)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Undo, "run", lambda self: None)
        patch.setattr(target, method, die)
        with pytest.raises(Killed):
            yield


@pytest.fixture
def store():
    return EngineStore(api_host="http://engine.test/engine")


@pytest.fixture
def port():
    return FakePort()


def run(kind, store, port, spec, job_id=JOB_ID):
    log = ListLog()
    EXECUTORS[kind](store, port, spec, log, job_id)
    return log


def create_model(store, port, rules=(KEYWORD_RULE,)):
    """A task model made by a create job outside the queue (no marker is left behind)."""
    connector_id = port.add_connector()
    EXECUTORS["create_model_task"](
        store, port, {"connector_id": connector_id, "task_name": "bot", "initial_rules": list(rules)}, ListLog()
    )
    (model_id,) = port.models
    return model_id


def create_spec(port):
    return {"connector_id": port.add_connector(), "task_name": "bot", "initial_rules": [KEYWORD_RULE]}


def live_rule_names(task_id):
    return Counter(EngineRule.objects.filter(task_id=task_id, is_archived=False).values_list("name", flat=True))


def cached_names(port, model_id):
    return Counter(rule["name"] for rule in port.caches[model_id]["task"]["rules"])


# --- update_model_task_rules -------------------------------------------------------------------


@pytest.mark.django_db
def test_patch_killed_after_its_engine_commit_is_finished_by_the_next_attempt_without_reapplying(store, port):
    model_id = create_model(store, port)
    task_id = port.caches[model_id]["task"]["id"]
    assert not AppliedJob.objects.exists()
    keyword_id = next(r["id"] for r in port.caches[model_id]["task"]["rules"] if r["name"] == "Blocked words")
    spec = {
        "scope_model_id": model_id,
        "rules_to_add": [{**KEYWORD_RULE, "name": "Added once"}],
        "rules_to_disable": [keyword_id],
    }
    with killed_at(port, "put_task_cache"):
        run("update_model_task_rules", store, port, spec)
    # Killed after the commit: the rule is in the engine, the marker says so, the cache is stale.
    assert live_rule_names(task_id)["Added once"] == 1
    assert AppliedJob.objects.get().progress["task_id"] == task_id
    assert "Added once" not in cached_names(port, model_id)

    log = run("update_model_task_rules", store, port, spec)

    assert RESUMED in log.text() and "Added rule" not in log.text()
    assert live_rule_names(task_id) == {"Blocked words": 1, "Added once": 1}
    assert cached_names(port, model_id) == {"Blocked words": 1, "Added once": 1}
    assert store.task_rule_enabled(task_id, keyword_id) is False


@pytest.mark.django_db
def test_patch_run_twice_with_the_same_job_id_applies_once(store, port):
    # The first run finished but its "completed" never reached the control plane.
    model_id = create_model(store, port)
    task_id = port.caches[model_id]["task"]["id"]
    spec = {"scope_model_id": model_id, "rules_to_add": [{**KEYWORD_RULE, "name": "Added once"}]}
    run("update_model_task_rules", store, port, spec)
    run("update_model_task_rules", store, port, spec)
    assert live_rule_names(task_id)["Added once"] == 1
    assert cached_names(port, model_id)["Added once"] == 1
    # Another job with the same change is another change.
    run("update_model_task_rules", store, port, spec, job_id="4b0c6a5e-8a53-4c57-9c3e-8e1f6c1f0a02")
    assert live_rule_names(task_id)["Added once"] == 2


@pytest.mark.django_db
def test_patch_killed_before_its_engine_commit_leaves_nothing_and_the_retry_applies_it(store, port):
    model_id = create_model(store, port)
    task_id = port.caches[model_id]["task"]["id"]
    rules = [{**KEYWORD_RULE, "name": "First"}, {**KEYWORD_RULE, "name": "Second"}]
    spec = {"scope_model_id": model_id, "rules_to_add": rules}
    original_add = store.add_task_rule
    calls = []

    def add_then_die(task, new_rule):
        calls.append(new_rule["name"])
        if len(calls) == 2:
            raise Killed("between the two rules")
        return original_add(task, new_rule)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "add_task_rule", add_then_die)
        patch.setattr(Undo, "run", lambda self: None)
        with pytest.raises(Killed):
            run("update_model_task_rules", store, port, spec)
    assert live_rule_names(task_id) == {"Blocked words": 1}
    assert not AppliedJob.objects.exists()

    log = run("update_model_task_rules", store, port, spec)
    assert RESUMED not in log.text()
    assert live_rule_names(task_id) == {"Blocked words": 1, "First": 1, "Second": 1}


@pytest.mark.django_db
def test_patch_whose_upload_fails_undoes_every_committed_change(store, port):
    model_id = create_model(store, port, rules=(KEYWORD_RULE, {**KEYWORD_RULE, "name": "To archive"}))
    task_id = port.caches[model_id]["task"]["id"]
    ids = {r["name"]: r["id"] for r in port.caches[model_id]["task"]["rules"]}
    before = store.task_response(task_id)["rules"]
    port.broken = "put_task_cache"
    spec = {
        "scope_model_id": model_id,
        "rules_to_add": [{**KEYWORD_RULE, "name": "Added"}],
        "rules_to_disable": [ids["Blocked words"]],
        "rules_to_archive": [ids["To archive"]],
    }
    with pytest.raises(ArthurUnavailable):
        run("update_model_task_rules", store, port, spec)
    after = store.task_response(task_id)["rules"]
    assert [(r["id"], r["enabled"]) for r in after] == [(r["id"], r["enabled"]) for r in before]
    assert not EngineRule.objects.filter(name="Added").exists()
    assert not AppliedJob.objects.exists()


@pytest.mark.django_db
def test_a_concurrent_attempt_that_committed_first_wins(store, port):
    # Two live attempts of one job (the first one's lease expired while it was slow): the one whose
    # marker insert comes second applies nothing.
    model_id = create_model(store, port)
    task_id = port.caches[model_id]["task"]["id"]
    store.save_job_progress(JOB_ID, "update_model_task_rules", {"task_id": task_id})
    applied = []
    log = ListLog()
    marker = commit_once(store, JOB_ID, "update_model_task_rules", log, lambda buffered, writes: applied.append(1))
    assert applied == [] and marker.progress == {"task_id": task_id}
    assert "Another attempt of job" in log.text()


# --- regenerate_validation_key -----------------------------------------------------------------


@pytest.mark.django_db
def test_regenerate_killed_before_storing_the_key_stores_that_same_key_on_retry(store, port):
    model_id = create_model(store, port)
    task_id = port.caches[model_id]["task"]["id"]
    old = port.connection_info[model_id]["validation_key"]
    spec = {"scope_model_id": model_id}
    with killed_at(port, "put_connection_info"):
        run("regenerate_task_validation_key", store, port, spec)
    (marker,) = AppliedJob.objects.all()
    new_key_id = marker.progress["key_id"]
    sealed = marker.sealed_key
    assert EngineApiKey.objects.count() == 2

    log = run("regenerate_task_validation_key", store, port, spec)

    assert RESUMED in log.text() and "Created validation key" not in log.text()
    assert EngineApiKey.objects.count() == 2  # no third key
    stored = port.connection_info[model_id]["validation_key"]
    assert stored["id"] == new_key_id
    assert stored["key"] not in sealed and unseal_secret(sealed) == stored["key"]  # kept encrypted only
    assert store.authenticate_validation_key(task_id, stored["key"]) is not None
    assert store.authenticate_validation_key(task_id, old["key"]) is None
    assert list(EngineApiKey.objects.filter(is_active=True).values_list("id", flat=True)) == [
        EngineApiKey.objects.get(id=new_key_id).id
    ]
    assert AppliedJob.objects.get().sealed_key == ""  # the secret is dropped once the control plane has it


@pytest.mark.django_db
def test_regenerate_killed_after_storing_the_key_only_deactivates_the_old_one_on_retry(store, port):
    model_id = create_model(store, port)
    task_id = port.caches[model_id]["task"]["id"]
    old = port.connection_info[model_id]["validation_key"]
    spec = {"scope_model_id": model_id}
    with killed_at(store, "deactivate_key"):
        run("regenerate_task_validation_key", store, port, spec)
    stored = port.connection_info[model_id]["validation_key"]
    assert store.authenticate_validation_key(task_id, old["key"]) is not None  # not yet deactivated

    log = run("regenerate_task_validation_key", store, port, spec)

    assert "was stored by an earlier attempt" in log.text()
    assert port.connection_info[model_id]["validation_key"] == stored
    assert EngineApiKey.objects.count() == 2
    assert store.authenticate_validation_key(task_id, old["key"]) is None
    assert store.authenticate_validation_key(task_id, stored["key"]) is not None


# --- create_model_task -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("dies_at", ["create_dataset", "create_model", "put_connection_info", "put_task_cache"])
def test_create_killed_at_any_step_is_finished_by_the_retry_with_one_task_model_and_key(store, port, dies_at):
    spec = create_spec(port)
    with killed_at(port, dies_at):
        run("create_model_task", store, port, spec)
    assert EngineTask.objects.count() == 1

    run("create_model_task", store, port, spec)

    task = EngineTask.objects.get()
    assert not task.is_archived and live_rule_names(task.id) == {"Blocked words": 1}
    assert len(port.datasets) == 1 and len(port.models) == 1
    (model_id,) = port.models
    assert cached_names(port, model_id) == {"Blocked words": 1}
    (active,) = EngineApiKey.objects.filter(is_active=True)
    assert EngineApiKey.objects.count() == 1
    assert port.connection_info[model_id]["validation_key"]["id"] == str(active.id)
    assert store.authenticate_validation_key(task.id, port.connection_info[model_id]["validation_key"]["key"])


@pytest.mark.django_db
def test_create_retry_that_fails_undoes_what_the_killed_attempt_made(store, port):
    spec = create_spec(port)
    with killed_at(port, "put_task_cache"):
        run("create_model_task", store, port, spec)
    port.broken = "put_task_cache"
    with pytest.raises(ArthurUnavailable):
        run("create_model_task", store, port, spec)
    assert port.models == {} and port.datasets == {}
    assert EngineTask.objects.get().is_archived
    assert not EngineApiKey.objects.filter(is_active=True).exists()
    assert not AppliedJob.objects.exists()


# --- end to end: the agent, the queue and its lease --------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_agent_killed_after_the_engine_commit_leaves_the_job_to_another_that_completes_it_once(
    local_arthur, api_token, start_agent, settings
):
    from arthur_api.auth import BearerTokenAuth
    from arthur_api.client import ArthurClient
    from dataplane.agent import PostingJobLog, build_agent
    from tests.dataplane.test_agent_e2e import create_task, wait_for_job

    settings.LOCAL_ARTHUR_JOB_LEASE_SECONDS = 1
    token = api_token("admin@example.com")
    admin = ArthurClient(local_arthur, BearerTokenAuth(lambda: token))
    try:
        (project_id, connector_id), *_ = [
            (project.id, connectors[0].id)
            for workspace in admin.get_workspaces().records
            for project in admin.get_projects(workspace.id).records
            if (connectors := admin.get_connectors(project.id, connector_type="engine_internal").records)
        ]
        starter, stop_starter = start_agent()
        model = create_task(admin, project_id, connector_id)
        stop_starter.set()
        starter.join(timeout=15)
        rule = {**KEYWORD_RULE, "name": "Added Once"}
        job_id = admin.patch_task(model.id, {"rules_to_add": [rule]}).job_id

        # The doomed agent takes the job and dies after the engine commit, before the cache PUT.
        doomed = build_agent(stop_event=threading.Event())
        run_ = doomed.client.post_dequeue_job(doomed.client.get_users_me().data_plane_id)
        assert run_ is not None and run_.job_id == job_id
        with killed_at(doomed.port, "put_task_cache"):
            doomed._run_executor(doomed.client.get_job(job_id), PostingJobLog(doomed.client, job_id, run_.id))
        doomed.close()
        assert AppliedJob.objects.filter(job_id=job_id).exists()
        time.sleep(1.5)  # the lease runs out while no agent polls
        start_agent()
        job = wait_for_job(admin, job_id)
        assert (job.state, job.attempts) == ("completed", 2)
        task_id = admin.get_task_state_cache(model.id).task.id
        assert live_rule_names(task_id)["Added Once"] == 1
        cached = [r.name for r in admin.get_task_state_cache(model.id).task.rules]
        assert cached.count("Added Once") == 1
        runs = admin.get_job_runs(job_id).records
        second = next(r for r in runs if r.job_attempt == 2)
        logs = [line.log for line in admin.get_job_logs(job_id, second.id).records]
        assert any(RESUMED in line for line in logs)
        # The control plane took "completed": the marker is gone.
        assert not AppliedJob.objects.filter(job_id=job_id).exists()
    finally:
        admin.close()
