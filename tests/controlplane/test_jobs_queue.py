"""The job queue's semantics: ordering, leases and retries, and exactly-once hand-out under concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from arthur_client.api_bindings import ApiClient, Configuration, JobDequeueParameters, JobsV1Api
from django.utils import timezone

from controlplane import jobs
from controlplane.identity.models import DataPlane, PlatformUser
from controlplane.models import Job, JobError, JobKind, JobRun, JobState, PlatformModel
from controlplane.seed_platform import DEMO_TASKS

SUPPORT = next(task for task in DEMO_TASKS if task.key == "support-bot")


@pytest.fixture
def seeded(db):
    from controlplane.seed import seed_demo

    seed_demo(dashboard_url="http://testserver")
    return PlatformModel.objects.select_related("project", "data_plane").get(id=SUPPORT.model_id)


def _enqueue(model: PlatformModel, count: int = 1) -> list[Job]:
    return [
        jobs.enqueue_job(
            kind=JobKind.FETCH_MODEL_TASK,
            spec={"scope_model_id": str(model.id)},
            project=model.project,
            data_plane=model.data_plane,
            triggered_by=None,
            model=model,
        )
        for _ in range(count)
    ]


def _expire(run: JobRun) -> None:
    JobRun.objects.filter(id=run.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def test_enqueue_always_writes_job_type(seeded):
    [job] = _enqueue(seeded)
    assert job.job_spec == {"job_type": "fetch_model_task", "scope_model_id": str(seeded.id)}
    assert jobs.job_type_for(JobKind.REGENERATE_TASK_VALIDATION_KEY) == "regenerate_validation_key"
    assert jobs.job_type_for(JobKind.CREATE_MODEL_LINK_TASK) == "link_model_task"


def test_dequeue_hands_out_oldest_first(seeded):
    first, second = _enqueue(seeded, 2)
    Job.objects.filter(id=second.id).update(queued_at=first.queued_at - timedelta(minutes=1))
    assert jobs.dequeue_job(data_plane_id=seeded.data_plane_id, memory_limit_mb=100).job_id == second.id
    assert jobs.dequeue_job(data_plane_id=seeded.data_plane_id, memory_limit_mb=100).job_id == first.id
    assert jobs.dequeue_job(data_plane_id=seeded.data_plane_id, memory_limit_mb=100) is None
    assert DataPlane.objects.get(id=seeded.data_plane_id).last_check_in_time is not None


def test_jobs_not_yet_ready_wait(seeded):
    [job] = _enqueue(seeded)
    Job.objects.filter(id=job.id).update(ready_at=timezone.now() + timedelta(minutes=5))
    assert jobs.dequeue_job(data_plane_id=seeded.data_plane_id, memory_limit_mb=100) is None


def test_expired_lease_requeues_until_max_attempts_then_fails(seeded):
    [job] = _enqueue(seeded)
    dp = seeded.data_plane_id
    for attempt in range(1, jobs.DEFAULT_MAX_ATTEMPTS + 1):
        run = jobs.dequeue_job(data_plane_id=dp, memory_limit_mb=100)
        assert run.job_id == job.id and run.job_attempt == attempt
        _expire(run)
        jobs.reap_expired_runs()
        assert JobRun.objects.get(id=run.id).state == JobState.FAILED

    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.attempts == jobs.DEFAULT_MAX_ATTEMPTS
    assert job.finished_at is not None and job.error_count == jobs.DEFAULT_MAX_ATTEMPTS
    assert JobError.objects.filter(run__job=job).count() == jobs.DEFAULT_MAX_ATTEMPTS
    assert jobs.dequeue_job(data_plane_id=dp, memory_limit_mb=100) is None


def test_reporting_keeps_a_run_alive(seeded):
    [job] = _enqueue(seeded)
    run = jobs.dequeue_job(data_plane_id=seeded.data_plane_id, memory_limit_mb=100)
    JobRun.objects.filter(id=run.id).update(lease_expires_at=timezone.now() + timedelta(milliseconds=1))
    jobs.append_logs(job, run.id, [{"log_level": "info", "log": "still here", "log_timestamp": timezone.now()}])
    assert jobs.reap_expired_runs(now=timezone.now() + timedelta(seconds=5)) == 0
    assert JobRun.objects.get(id=run.id).state == JobState.RUNNING


def test_a_report_for_an_expired_run_is_refused(seeded):
    [job] = _enqueue(seeded)
    run = jobs.dequeue_job(data_plane_id=seeded.data_plane_id, memory_limit_mb=100)
    _expire(run)
    jobs.reap_expired_runs()
    job.refresh_from_db()
    assert job.state == JobState.QUEUED
    with pytest.raises(jobs.JobConflict):
        jobs.set_job_state(job, run.id, JobState.COMPLETED)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_dequeuers_drain_200_jobs_exactly_once(local_arthur, api_token):
    model = PlatformModel.objects.select_related("project", "data_plane").get(id=SUPPORT.model_id)
    queued = {job.id for job in _enqueue(model, 200)}
    data_plane_id = str(model.data_plane_id)
    assert PlatformUser.objects.get(client_id="data-plane-demo").data_plane_id == model.data_plane_id
    handed_out: list[list[str]] = [[], []]
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    tokens = [api_token("data-plane-demo"), api_token("data-plane-demo")]

    def drain(slot: int) -> None:
        try:
            client = JobsV1Api(ApiClient(Configuration(host=local_arthur, access_token=tokens[slot])))
            start.wait()
            while (
                run := client.post_dequeue_job(data_plane_id, JobDequeueParameters(memory_limit_mb=1000))
            ) is not None:
                handed_out[slot].append(run.job_id)
        except BaseException as exc:  # surfaced in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=drain, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not failures
    everything = handed_out[0] + handed_out[1]
    assert len(everything) == 200 and len(set(everything)) == 200
    assert handed_out[0] and handed_out[1], "both dequeuers should have been served"
    assert set(everything) == {str(job_id) for job_id in queued}
    assert JobRun.objects.filter(job_id__in=queued).count() == 200
    assert not Job.objects.filter(id__in=queued).exclude(state=JobState.RUNNING).exists()


def test_another_agents_polling_does_not_keep_a_dead_run_alive(seeded):
    """Several agents share a data plane: one agent's polls must not extend another's run."""
    [job] = _enqueue(seeded)
    dead = jobs.dequeue_job(data_plane_id=seeded.data_plane_id, memory_limit_mb=100)
    soon = timezone.now() + timedelta(milliseconds=300)
    JobRun.objects.filter(id=dead.id).update(lease_expires_at=soon)
    # A live agent polls right away: nothing to hand out, and the dead run's lease is untouched.
    assert jobs.dequeue_job(data_plane_id=seeded.data_plane_id, memory_limit_mb=100) is None
    assert JobRun.objects.get(id=dead.id).lease_expires_at == soon
    _expire(dead)
    # Its next poll reaps the dead run and takes the job over as attempt 2.
    retry = jobs.dequeue_job(data_plane_id=seeded.data_plane_id, memory_limit_mb=100)
    assert retry is not None and retry.job_id == job.id and retry.job_attempt == 2
    assert JobRun.objects.get(id=dead.id).state == JobState.FAILED
