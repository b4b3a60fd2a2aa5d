"""arthur_api.ArthurClient against a fake Arthur at the HTTP transport (`responses`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
import responses
from responses import matchers
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from arthur_api.auth import BearerTokenAuth
from arthur_api.client import USER_AGENT, ArthurClient, ReadOnlyRetry, default_retry
from arthur_api.errors import (
    ArthurError,
    ArthurForbidden,
    ArthurNotFound,
    ArthurRejected,
    ArthurUnauthenticated,
    ArthurUnavailable,
)
from arthur_api.records import (
    ConnectionInfo,
    ConnectorSpec,
    ExamplesConfig,
    Job,
    JobRun,
    KeywordsConfig,
    Model,
    Page,
    PermissionResult,
    PIIConfig,
    Project,
    RegexConfig,
    TaskMutation,
    TaskState,
    ToxicityConfig,
    User,
    Workspace,
)
from tests.arthur_api import samples

BASE = "https://arthur.test"


def fast_retry() -> ReadOnlyRetry:
    """The production policy without the sleeps."""
    retry = default_retry()
    return retry.new(backoff_factor=0, backoff_jitter=0)


@pytest.fixture
def client() -> ArthurClient:
    return ArthurClient(BASE, BearerTokenAuth(lambda: "user-token"), timeout=(1.5, 4.0), retry=fast_retry())


@pytest.fixture
def fake() -> responses.RequestsMock:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# --- every method: verb, path, body and the record it returns --------------------------------

MODEL = samples.MODEL
PROJECT = samples.PROJECT
JOB = samples.JOB
RUN = samples.RUN

CASES: list[tuple[str, Callable[[ArthurClient], Any], str, str, Any, Any]] = [
    ("users_me", lambda c: c.get_users_me(), "GET", "/api/v1/users/me", samples.user(), User),
    ("workspaces", lambda c: c.get_workspaces(), "GET", "/api/v1/organization/workspaces",
     samples.page([samples.workspace()]), Page),
    ("projects", lambda c: c.get_projects(samples.WS, name="Support"), "GET",
     f"/api/v1/workspaces/{samples.WS}/projects", samples.page([samples.project()]), Page),
    ("project", lambda c: c.get_project(PROJECT), "GET", f"/api/v1/projects/{PROJECT}", samples.project(), Project),
    ("models", lambda c: c.get_models(PROJECT), "GET", f"/api/v1/projects/{PROJECT}/models",
     samples.page([samples.model()]), Page),
    ("model", lambda c: c.get_model(MODEL), "GET", f"/api/v1/models/{MODEL}", samples.model(), Model),
    ("post_model", lambda c: c.post_model(PROJECT, {"name": "m"}), "POST", f"/api/v1/projects/{PROJECT}/models",
     samples.model(), Model),
    ("delete_model", lambda c: c.delete_model(MODEL), "DELETE", f"/api/v1/models/{MODEL}", None, type(None)),
    ("connectors", lambda c: c.get_connectors(PROJECT, connector_type="engine_internal"), "GET",
     f"/api/v1/projects/{PROJECT}/connectors", samples.page([samples.connector()]), Page),
    ("sensitive", lambda c: c.get_connector_sensitive(samples.CONNECTOR), "GET",
     f"/api/v1/connectors/{samples.CONNECTOR}/sensitive", samples.connector(), ConnectorSpec),
    ("create_task", lambda c: c.project_create_model_task(PROJECT, {"name": "t", "connector_id": "c"}), "POST",
     f"/api/v1/projects/{PROJECT}/tasks", {"job_id": JOB}, TaskMutation),
    ("link_task", lambda c: c.project_create_model_link_task(PROJECT, {"task_id": "t", "connector_id": "c"}),
     "POST", f"/api/v1/projects/{PROJECT}/link_task", {"job_id": JOB}, TaskMutation),
    ("task_state", lambda c: c.get_task_state_cache(MODEL), "GET", f"/api/v1/models/{MODEL}/task",
     samples.task_state(), TaskState),
    ("patch_task", lambda c: c.patch_task(MODEL, {"rules_to_disable": ["r1"]}), "PATCH",
     f"/api/v1/models/{MODEL}/task", {"job_id": JOB}, TaskMutation),
    ("delete_task", lambda c: c.delete_task(MODEL), "DELETE", f"/api/v1/models/{MODEL}/task", {"job_id": JOB},
     TaskMutation),
    ("sync_task", lambda c: c.sync_task(MODEL), "POST", f"/api/v1/models/{MODEL}/task/sync", {"job_id": JOB},
     TaskMutation),
    ("regenerate", lambda c: c.post_regenerate_validation_key(MODEL), "POST",
     f"/api/v1/models/{MODEL}/task/regenerate_validation_key", {"job_id": JOB}, TaskMutation),
    ("get_conn", lambda c: c.get_task_connection_info(MODEL), "GET",
     f"/api/v1/models/{MODEL}/task/connection_info", samples.connection_info(), ConnectionInfo),
    ("put_conn", lambda c: c.put_task_connection_info(MODEL, {"api_host": "h"}), "PUT",
     f"/api/v1/models/{MODEL}/task/connection_info", samples.connection_info(), ConnectionInfo),
    ("delete_conn", lambda c: c.delete_connection_info(MODEL), "DELETE",
     f"/api/v1/models/{MODEL}/task/connection_info", None, type(None)),
    ("put_cache", lambda c: c.put_task_state_cache(MODEL, {"task": samples.task_state()["task"]}), "PUT",
     f"/api/v1/models/{MODEL}/task/cache", None, type(None)),
    ("job", lambda c: c.get_job(JOB), "GET", f"/api/v1/jobs/{JOB}", samples.job(), Job),
    ("jobs", lambda c: c.get_jobs(PROJECT), "GET", f"/api/v1/projects/{PROJECT}/jobs",
     samples.page([samples.job()], infinite=True), Page),
    ("runs", lambda c: c.get_job_runs(JOB), "GET", f"/api/v1/jobs/{JOB}/runs", samples.page([samples.job_run()]),
     Page),
    ("logs", lambda c: c.get_job_logs(JOB, RUN), "GET", f"/api/v1/jobs/{JOB}/runs/{RUN}/logs",
     samples.page([{"log_level": "info", "log": "hi", "log_timestamp": samples.NOW}]), Page),
    ("errors", lambda c: c.get_job_errors(JOB, RUN), "GET", f"/api/v1/jobs/{JOB}/runs/{RUN}/errors",
     samples.page([{"error": "boom"}]), Page),
    ("dequeue", lambda c: c.post_dequeue_job(samples.DATA_PLANE), "POST",
     f"/api/v1/data_planes/{samples.DATA_PLANE}/jobs/next", samples.job_run(), JobRun),
    ("state", lambda c: c.put_job_state(JOB, RUN, "completed"), "PUT", f"/api/v1/jobs/{JOB}/state",
     samples.job("completed"), Job),
    ("post_logs", lambda c: c.post_job_logs(JOB, RUN, [{"log_level": "info", "log": "x",
                                                         "log_timestamp": samples.NOW}]),
     "POST", f"/api/v1/jobs/{JOB}/runs/{RUN}/logs", None, type(None)),
    ("post_errors", lambda c: c.post_job_errors(JOB, RUN, ["boom"]), "POST",
     f"/api/v1/jobs/{JOB}/runs/{RUN}/errors", None, type(None)),
]


@pytest.mark.parametrize(("call", "method", "path", "payload", "expected"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_method_calls_its_endpoint_and_returns_a_record(
    client, fake, call, method, path, payload, expected
) -> None:
    if payload is None:
        fake.add(method, BASE + path, status=204)
    else:
        fake.add(method, BASE + path, json=payload)

    result = call(client)

    assert isinstance(result, expected)
    assert len(fake.calls) == 1
    sent = fake.calls[0].request
    assert sent.method == method
    assert sent.url.split("?")[0] == BASE + path
    assert sent.headers["Authorization"] == "Bearer user-token"
    assert sent.headers["User-Agent"] == USER_AGENT
    assert sent.req_kwargs["timeout"] == (1.5, 4.0)


def test_write_bodies_are_sent_as_the_platform_expects(client, fake) -> None:
    fake.add("PUT", f"{BASE}/api/v1/jobs/{JOB}/state", json=samples.job("failed"),
             match=[matchers.query_param_matcher({"job_run_id": RUN}),
                    matchers.json_params_matcher({"job_state": "failed"})])
    fake.add("POST", f"{BASE}/api/v1/jobs/{JOB}/runs/{RUN}/errors",
             match=[matchers.json_params_matcher({"errors": [{"error": "regex does not compile"}]})], status=204)
    fake.add("POST", f"{BASE}/api/v1/data_planes/{samples.DATA_PLANE}/jobs/next", status=204,
             match=[matchers.json_params_matcher({"memory_limit_mb": 512})])

    assert client.put_job_state(JOB, RUN, "failed").state == "failed"
    client.post_job_errors(JOB, RUN, ["regex does not compile"])
    assert client.post_dequeue_job(samples.DATA_PLANE, memory_limit_mb=512) is None


def test_job_filters_use_repeated_keys_and_infinite_pages(client, fake) -> None:
    fake.add("GET", f"{BASE}/api/v1/projects/{PROJECT}/jobs", json=samples.page([samples.job()], infinite=True,
                                                                               page_size=1))
    page = client.get_jobs(PROJECT, kinds=["create_model_task", "delete_model_task"], states=["queued"],
                           model_id=MODEL, order="desc")
    query = fake.calls[0].request.url.split("?", 1)[1]
    assert "kinds=create_model_task&kinds=delete_model_task" in query
    assert "states=queued" in query and f"model_id={MODEL}" in query and "order=desc" in query
    assert "sort=" not in query  # None filters are left out
    assert page.total_pages is None and page.has_next  # a full page of an infinite list
    assert page.records[0].job_spec["job_type"] == "update_model_task_rules"
    assert not page.records[0].is_terminal


def test_check_permissions_returns_results_in_order(client, fake) -> None:
    asked = [
        {"resource_kind": "model", "resource_id": MODEL, "permission_name": "model_task_update"},
        {"resource_kind": "project", "resource_id": PROJECT, "permission_name": "project_create_model_task"},
    ]
    fake.add("POST", f"{BASE}/api/v1/permissions/check",
             match=[matchers.json_params_matcher({"permissions": asked})],
             json={"permissions": [{**asked[0], "allowed": True}, {**asked[1], "allowed": False}]})
    results = client.check_permissions(asked)
    assert [type(r) for r in results] == [PermissionResult, PermissionResult]
    assert [r.allowed for r in results] == [True, False]


def test_task_state_reads_rule_config_by_type(client, fake) -> None:
    fake.add("GET", f"{BASE}/api/v1/models/{MODEL}/task", json=samples.task_state())
    state = client.get_task_state_cache(MODEL)
    configs = {rule.type: rule.typed_config for rule in state.task.rules}
    assert configs["KeywordRule"] == KeywordsConfig(keywords=("secret",))
    assert configs["RegexRule"] == RegexConfig(regex_patterns=(r"\d{3}-\d{2}-\d{4}",))
    # The official client would read this PII config as a ToxicityConfig; we read it by type.
    assert configs["PIIDataRule"] == PIIConfig(disabled_pii_entities=("URL",), confidence_threshold=0.0,
                                               allow_list=("arthur.ai",))
    assert configs["ToxicityRule"] == ToxicityConfig(threshold=0.7)
    assert isinstance(configs["ModelSensitiveDataRule"], ExamplesConfig)
    assert configs["ModelSensitiveDataRule"].examples[0].result is True
    assert configs["PromptInjectionRule"] is None
    assert state.task.created_at == 1749556800000  # unix ms stay ints


def test_validation_key_is_masked_until_asked_for(client, fake) -> None:
    fake.add("GET", f"{BASE}/api/v1/models/{MODEL}/task/connection_info", json=samples.connection_info())
    info = client.get_task_connection_info(MODEL)
    assert "very-secret-key" not in repr(info)
    assert info.validation_key.key.get_secret_value() == "very-secret-key"


# --- one place maps failures ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_server_errors_are_unavailable(client, fake, status) -> None:
    fake.add("POST", f"{BASE}/api/v1/models/{MODEL}/task/sync", status=status, json={"detail": "x"})
    with pytest.raises(ArthurUnavailable) as caught:
        client.sync_task(MODEL)
    assert caught.value.status == status


def test_401_is_unauthenticated(client, fake) -> None:
    fake.add("GET", f"{BASE}/api/v1/users/me", status=401, json={"detail": "Unauthorized"})
    with pytest.raises(ArthurUnauthenticated):
        client.get_users_me()


def test_403_is_forbidden_with_the_permission(client, fake) -> None:
    fake.add("PATCH", f"{BASE}/api/v1/models/{MODEL}/task", status=403,
             json={"detail": "You may not change this task.", "permission": "model_task_update"})
    with pytest.raises(ArthurForbidden) as caught:
        client.patch_task(MODEL, {"rules_to_disable": ["r1"]})
    assert caught.value.permission == "model_task_update"
    assert caught.value.message == "You may not change this task."


def test_404_is_not_found(client, fake) -> None:
    fake.add("GET", f"{BASE}/api/v1/models/{MODEL}/task/connection_info", status=404,
             json={"detail": "Resource not found"})
    with pytest.raises(ArthurNotFound, match="Resource not found"):
        client.get_task_connection_info(MODEL)


def test_400_is_rejected_with_the_engine_message(client, fake) -> None:
    fake.add("POST", f"{BASE}/api/v1/projects/{PROJECT}/tasks", status=400,
             json={"detail": "Task names cannot contain only white space characters"})
    with pytest.raises(ArthurRejected) as caught:
        client.project_create_model_task(PROJECT, {"name": " ", "connector_id": "c"})
    assert caught.value.message == "Task names cannot contain only white space characters"
    assert caught.value.field_errors == ()


def test_422_is_rejected_with_field_errors(client, fake) -> None:
    fake.add("GET", f"{BASE}/api/v1/projects/{PROJECT}/models", status=422, json={"detail": [
        {"loc": ["query", "page_size"], "msg": "Input should be less than or equal to 1000",
         "type": "less_than_equal", "input": "5000"},
        {"loc": ["body", "rules_to_add", 0, "name"], "msg": "Field required", "type": "missing"},
    ]})
    with pytest.raises(ArthurRejected) as caught:
        client.get_models(PROJECT, page_size=5000)
    errors = caught.value.field_errors
    assert [e.field for e in errors] == ["page_size", "rules_to_add.name"]
    assert errors[0].msg == "Input should be less than or equal to 1000"
    assert "page_size: Input should be less than or equal to 1000" in caught.value.message
    assert caught.value.status == 422


def test_other_statuses_are_plain_arthur_errors(client, fake) -> None:
    fake.add("GET", f"{BASE}/api/v1/users/me", status=418, body="teapot")
    with pytest.raises(ArthurError) as caught:
        client.get_users_me()
    assert type(caught.value) is ArthurError and caught.value.status == 418


def test_a_2xx_that_does_not_fit_the_record_is_an_error(client, fake) -> None:
    fake.add("GET", f"{BASE}/api/v1/projects/{PROJECT}", json={"id": PROJECT})
    fake.add("GET", f"{BASE}/api/v1/users/me", body="<html>proxy page</html>")
    with pytest.raises(ArthurError, match="does not fit Project"):
        client.get_project(PROJECT)
    with pytest.raises(ArthurError, match="not JSON"):
        client.get_users_me()


@pytest.mark.parametrize("failure", [requests.exceptions.ReadTimeout("slow"),
                                     requests.exceptions.ConnectTimeout("slow"),
                                     requests.exceptions.ConnectionError("refused")])
def test_timeouts_and_connection_errors_are_unavailable(client, fake, failure) -> None:
    fake.add("POST", f"{BASE}/api/v1/models/{MODEL}/task/sync", body=failure)
    with pytest.raises(ArthurUnavailable) as caught:
        client.sync_task(MODEL)
    assert caught.value.status is None
    assert "user-token" not in str(caught.value)


def test_the_default_timeout_is_set_when_none_is_given(fake) -> None:
    fake.add("GET", f"{BASE}/api/v1/users/me", json=samples.user())
    ArthurClient(BASE, BearerTokenAuth(lambda: "t")).get_users_me()
    connect, read = fake.calls[0].request.req_kwargs["timeout"]
    assert 0 < connect <= 5 and 0 < read <= 30


def test_a_real_timeout_against_a_slow_server_is_unavailable(slow_server) -> None:
    client = ArthurClient(slow_server, BearerTokenAuth(lambda: "t"), timeout=(1.0, 0.2),
                          retry=fast_retry().new(read=0))
    with pytest.raises(ArthurUnavailable, match="did not answer in time"):
        client.get_users_me()


# --- retries: reads only ------------------------------------------------------------------------


def test_reads_are_retried_on_gateway_errors(client, fake) -> None:
    url = f"{BASE}/api/v1/models/{MODEL}/task"
    fake.add("GET", url, status=503)
    fake.add("GET", url, status=502)
    fake.add("GET", url, json=samples.task_state())
    assert client.get_task_state_cache(MODEL).scope_model_id == MODEL
    assert len(fake.calls) == 3


def test_reads_give_up_after_three_retries(client, fake) -> None:
    fake.add("GET", f"{BASE}/api/v1/users/me", status=503)
    with pytest.raises(ArthurUnavailable):
        client.get_users_me()
    assert len(fake.calls) == 4  # the try and three retries


@pytest.mark.parametrize(("method", "call"), [
    ("POST", lambda c: c.sync_task(MODEL)),
    ("PUT", lambda c: c.put_task_state_cache(MODEL, {"task": {}})),
    ("PATCH", lambda c: c.patch_task(MODEL, {})),
    ("DELETE", lambda c: c.delete_task(MODEL)),
])
def test_writes_are_never_retried(client, fake, method, call) -> None:
    fake.add(method, responses.matchers.re.compile(rf"{BASE}/api/v1/models/.*"), status=503)
    with pytest.raises(ArthurUnavailable):
        call(client)
    assert len(fake.calls) == 1


def test_writes_are_not_retried_even_after_a_connection_error() -> None:
    retry = default_retry()
    error = ConnectTimeoutError("connect timed out")
    assert retry.increment("GET", "/x", error=error).total == 2
    with pytest.raises(MaxRetryError):
        retry.increment("POST", "/x", error=error)
    with pytest.raises(MaxRetryError):
        retry.increment("PATCH", "/x", error=error)


# --- auth: one retry after 401 when a fresh token is available ---------------------------------


def test_a_401_is_retried_once_with_a_fresh_token(fake) -> None:
    tokens = iter(["stale", "fresh"])
    current = {"token": next(tokens)}

    def refresh() -> bool:
        current["token"] = next(tokens)
        return True

    client = ArthurClient(BASE, BearerTokenAuth(lambda: current["token"], on_unauthorized=refresh),
                          retry=fast_retry())
    url = f"{BASE}/api/v1/models/{MODEL}/task/sync"
    fake.add("POST", url, status=401, match=[matchers.header_matcher({"Authorization": "Bearer stale"})])
    fake.add("POST", url, json={"job_id": JOB}, match=[matchers.header_matcher({"Authorization": "Bearer fresh"})])
    assert client.sync_task(MODEL).job_id == JOB
    assert len(fake.calls) == 2


def test_a_second_401_is_unauthenticated(fake) -> None:
    client = ArthurClient(BASE, BearerTokenAuth(lambda: "t", on_unauthorized=lambda: True), retry=fast_retry())
    fake.add("GET", f"{BASE}/api/v1/users/me", status=401)
    with pytest.raises(ArthurUnauthenticated):
        client.get_users_me()
    assert len(fake.calls) == 2


def test_the_request_id_travels_with_each_call(client, fake) -> None:
    from dashboard import observability

    fake.add("GET", f"{BASE}/api/v1/users/me", json=samples.user())
    token = observability._request_id.set("req-1234567890")
    try:
        client.get_users_me()
    finally:
        observability._request_id.reset(token)
    assert fake.calls[0].request.headers["X-Request-ID"] == "req-1234567890"


# --- the official client is the oracle for the shapes ---------------------------------------------

ORACLE = [
    ("User", samples.user, User),
    ("Workspace", samples.workspace, Workspace),
    ("Project", samples.project, Project),
    ("Model", samples.model, Model),
    ("ConnectorSpec", samples.connector, ConnectorSpec),
    ("TaskReadResponse", samples.task_state, TaskState),
    ("Job", samples.job, Job),
    ("JobRun", samples.job_run, JobRun),
    ("TaskConnectionInfo", samples.connection_info, ConnectionInfo),
]


@pytest.mark.parametrize(("official_name", "make", "ours"), ORACLE, ids=[o[0] for o in ORACLE])
def test_records_read_what_the_official_client_writes(official_name, make, ours) -> None:
    import arthur_client.api_bindings.models as official

    official_model = getattr(official, official_name).from_dict(make())
    assert official_model is not None  # the sample is a valid platform payload
    wire = official_model.model_dump(mode="json", by_alias=True, exclude_none=True)
    if official_name == "TaskConnectionInfo":
        wire["validation_key"]["key"] = make()["validation_key"]["key"]  # the dump masks SecretStr
    record = ours.model_validate(wire).model_dump(mode="json")
    scalars = {key: value for key, value in wire.items() if isinstance(value, str | int | bool | float)}
    assert scalars, "nothing to compare"
    assert {key: record[key] for key in scalars} == scalars
