"""The harness's moving parts on small numbers: the scale seed, a sync of a seeded task, sign-in and the
load generator against a live server. No timing is asserted anywhere: speed is `make bench`'s job."""

from __future__ import annotations

import threading
import time

import pytest

from bench.load import LoadGenerator, Target
from bench.seed_scale import seed_scale
from bench.signin import SignInFailed, cookie_header, sign_in

ENGINE = "http://engine.invalid"


@pytest.fixture
def demo(db):
    from controlplane.seed import seed_demo
    from dataplane.seed import seed_engine

    seed_demo(dashboard_url="http://testserver")
    seed_engine()


def test_the_scale_seed_makes_the_numbers_asked_for_and_a_cache_the_engine_agrees_with(demo) -> None:
    from controlplane.identity.models import PlatformUser
    from controlplane.models import Job, PlatformModel, Project, TaskConnectionInfo, TaskStateCache
    from controlplane.rbac import visible_project_filter
    from dataplane.models import EngineRule, TaskRuleLink
    from dataplane.store import EngineStore

    seed = seed_scale(
        engine_url=ENGINE, small_projects=3, large_projects=7, task_models=4, big_rules=12, people=2, password="pw"
    )

    assert Project.objects.filter(workspace_id=seed.small_workspace_id).count() == 3
    assert Project.objects.filter(workspace_id=seed.large_workspace_id).count() == 7
    assert PlatformModel.objects.filter(project_id=seed.project_id).count() == len(seed.model_ids) == 4
    big = PlatformModel.objects.get(id=seed.big_model_id)
    assert EngineRule.objects.filter(task_id=big.task_id).count() == 12
    defaults = EngineRule.objects.filter(scope="default").count()
    assert defaults > 0 and TaskRuleLink.objects.filter(task_id=big.task_id).count() == 12 + defaults
    for model_id in seed.model_ids:
        model = PlatformModel.objects.get(id=model_id)
        cached = TaskStateCache.objects.get(model=model).task
        assert cached == EngineStore(api_host=ENGINE).task_response(model.task_id)
        assert TaskConnectionInfo.objects.get(model=model).api_host == ENGINE
    assert len(TaskStateCache.objects.get(model=big).task["rules"]) == 12 + defaults
    assert Job.objects.get(id=seed.running_job_id).state == "running"
    assert Job.objects.get(id=seed.finished_job_id).state == "completed"
    assert seed.people == ("bench-person-1@example.com", "bench-person-2@example.com")
    for email in seed.people:
        person = PlatformUser.objects.get(email=email)
        assert person.check_secret("pw") and not person.check_secret("other")
        assert visible_project_filter(person) is None  # sees every project of the organization


def test_the_scale_seed_wants_a_fresh_database_and_the_demo_seed(db, demo) -> None:
    with pytest.raises(ValueError, match="password"):
        seed_scale(engine_url=ENGINE, small_projects=1, large_projects=1, task_models=1, big_rules=1, people=1)
    seed_scale(engine_url=ENGINE, small_projects=1, large_projects=1, task_models=1, big_rules=1, people=0)
    with pytest.raises(ValueError, match="already seeded"):
        seed_scale(engine_url=ENGINE, small_projects=1, large_projects=1, task_models=1, big_rules=1, people=0)
    with pytest.raises(ValueError):
        seed_scale(engine_url=ENGINE, large_projects=0)


def test_the_scale_seed_refuses_without_the_demo_seed(db) -> None:
    with pytest.raises(LookupError):
        seed_scale(engine_url=ENGINE, small_projects=1, large_projects=1, task_models=1, big_rules=1, people=0)


@pytest.fixture
def agent(local_arthur):
    from dataplane.agent import start_agent_thread

    stop = threading.Event()
    thread = start_agent_thread(stop_event=stop, poll_interval=0.05, name="bench-test-agent")
    yield thread
    stop.set()
    thread.join(timeout=15)
    assert not thread.is_alive()


@pytest.mark.django_db(transaction=True)
def test_a_sync_of_the_big_seeded_task_completes_and_uploads_what_was_cached(local_arthur, agent, api_token) -> None:
    from arthur_api.auth import BearerTokenAuth
    from arthur_api.client import ArthurClient
    from controlplane.models import TaskStateCache
    from dataplane.seed import seed_engine

    seed_engine()
    seed = seed_scale(engine_url=f"{local_arthur}/engine", small_projects=1, large_projects=2, task_models=2,
                      big_rules=20, people=0)
    before = TaskStateCache.objects.get(model_id=seed.big_model_id)
    token = api_token("admin@example.com")
    client = ArthurClient(local_arthur, BearerTokenAuth(lambda: token))
    try:
        job_id = client.sync_task(seed.big_model_id).job_id
        deadline = time.monotonic() + 20
        while not (job := client.get_job(job_id)).is_terminal and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.close()
    assert job.state == "completed"
    after = TaskStateCache.objects.get(model_id=seed.big_model_id)
    assert after.last_synced_at > before.last_synced_at
    assert after.task == before.task  # the engine store and the seeded cache agree


@pytest.mark.django_db(transaction=True)
def test_sign_in_goes_through_the_provider_and_keeps_the_dashboard_session(local_arthur) -> None:
    from accounts import oauth

    oauth.reset()
    browser = sign_in(local_arthur, email="editor@example.com", password="arthur-demo")
    assert "sessionid=" in cookie_header(browser, local_arthur)
    with pytest.raises(SignInFailed):
        sign_in(local_arthur, email="editor@example.com", password="wrong")


def test_the_load_generator_counts_answers_and_failures(live_server) -> None:
    with LoadGenerator(2) as generator:
        healthy = generator.run(Target("healthz", f"{live_server.url}/healthz"), seconds=0.5, max_requests=20)
        missing = generator.run(Target("missing", f"{live_server.url}/no-such-page"), seconds=0.5, max_requests=4)
    assert 0 < healthy.ok <= 20 and healthy.bad == 0 and healthy.wall_seconds > 0
    assert healthy.body_bytes > 0 and len(healthy.latencies) == healthy.ok
    assert missing.ok == 0 and missing.statuses.get(404) == missing.bad == 4


def test_each_client_can_be_a_different_person() -> None:
    target = Target("page", "http://127.0.0.1:1/", {"HX-Request": "true"}, ({"Cookie": "a"}, {"Cookie": "b"}))
    assert [target.headers_of(i) for i in range(3)] == [
        {"HX-Request": "true", "Cookie": "a"},
        {"HX-Request": "true", "Cookie": "b"},
        {"HX-Request": "true", "Cookie": "a"},
    ]
    assert Target("page", "http://127.0.0.1:1/", {"X": "1"}).headers_of(5) == {"X": "1"}
    with pytest.raises(ValueError):
        LoadGenerator(0)


def test_paired_targets_are_driven_together_and_told_apart(live_server) -> None:
    with LoadGenerator(3) as generator:
        healthy, missing = generator.run_paired(
            [Target("healthz", f"{live_server.url}/healthz"), Target("missing", f"{live_server.url}/nope")],
            seconds=0.5,
            max_requests=30,
        )
        with pytest.raises(ValueError, match="one server"):
            generator.run_paired(
                [Target("a", f"{live_server.url}/a"), Target("b", "http://127.0.0.1:1/b")], seconds=0.1, max_requests=1
            )
    assert healthy.ok > 0 and healthy.bad == 0 and set(healthy.statuses) == {200}
    assert missing.ok == 0 and set(missing.statuses) == {404} and missing.bad > 0
    assert abs(healthy.ok - missing.bad) <= 3  # each client alternates between the two
    assert healthy.wall_seconds == missing.wall_seconds
