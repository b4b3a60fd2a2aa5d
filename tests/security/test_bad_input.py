"""Oversized bodies, deeply nested JSON and out-of-range numbers get a 4xx (never a 500), on the
API and on the provider's token endpoint."""

from __future__ import annotations

import json

import pytest
import requests

from controlplane.seed_platform import DEMO_TASKS

TASK_MODEL = DEMO_TASKS[0].model_id
SERVICE_ACCOUNT = ("arthur-sa-demo", "arthur-sa-demo-secret")


def deep_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.fixture
def admin(local_arthur, api_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token('admin@example.com')}", "Content-Type": "application/json"}


def put_cache(base: str, headers: dict[str, str], body: str) -> requests.Response:
    return requests.put(f"{base}/api/v1/models/{TASK_MODEL}/task/cache", data=body, headers=headers, timeout=30)


def test_oversized_api_body_is_413(local_arthur, admin, settings) -> None:
    body = '{"task": {"id": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '"}}'
    response = put_cache(local_arthur, admin, body)
    assert response.status_code == 413, response.text[:300]
    assert response.json() == {"detail": "Request body too large"}


@pytest.mark.parametrize("payload", [deep_array(100_000), deep_object(100_000), deep_array(2_000)])
def test_deeply_nested_api_body_is_422(local_arthur, admin, payload) -> None:
    # `evals` is free-form JSON: the one place a client may legitimately send nested data.
    task = json.dumps(DEMO_TASKS[0].task_response())
    response = put_cache(local_arthur, admin, '{"task": ' + task + ', "evals": ' + payload + "}")
    assert response.status_code == 422, response.text[:300]
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_nesting_the_parser_accepts_round_trips_without_5xx(local_arthur, admin) -> None:
    # Just under the parser's recursion limit: stored and read back, never a 500 on the way in or out.
    task = json.dumps(DEMO_TASKS[0].task_response())
    put = put_cache(local_arthur, admin, '{"task": ' + task + ', "evals": [' + deep_array(900) + "]}")
    assert put.status_code in (204, 422), put.text[:300]
    read = requests.get(f"{local_arthur}/api/v1/models/{TASK_MODEL}/task", headers=admin, timeout=30)
    assert read.status_code == 200, read.text[:300]


def test_page_beyond_sql_offsets_is_an_empty_page(local_arthur, admin) -> None:
    from controlplane.models import PlatformModel

    project = PlatformModel.objects.get(id=TASK_MODEL).project_id
    huge = "page=9223372036854775807&page_size=1000"
    for path in (f"/api/v1/organization/workspaces?{huge}", f"/api/v1/projects/{project}/jobs?{huge}"):
        response = requests.get(f"{local_arthur}{path}", headers=admin, timeout=30)
        assert response.status_code == 200, (path, response.text[:300])
        assert response.json()["records"] == []


def test_oversized_token_request_is_4xx(local_arthur, settings) -> None:
    form = {"grant_type": "client_credentials", "padding": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}
    response = requests.post(f"{local_arthur}/api/v1/auth/oidc/token", data=form, auth=SERVICE_ACCOUNT, timeout=30)
    assert 400 <= response.status_code < 500, response.text[:300]


def test_token_endpoint_refuses_deeply_nested_json(local_arthur) -> None:
    response = requests.post(
        f"{local_arthur}/api/v1/auth/oidc/token",
        data=deep_object(100_000),
        headers={"Content-Type": "application/json"},
        auth=SERVICE_ACCOUNT,
        timeout=30,
    )
    assert 400 <= response.status_code < 500, response.text[:300]
    assert "error" in response.json()


def test_nul_characters_in_stored_strings_never_5xx(local_arthur, admin) -> None:
    # PostgreSQL cannot store NUL in text columns (SQLite can): the API refuses it up front, everywhere.
    url = f"{local_arthur}/api/v1/models/{TASK_MODEL}/task/connection_info"
    body = {"api_host": "https://a\u0000b", "validation_key": {"id": "k\u0000", "name": "n", "key": "v\u0000"}}
    response = requests.put(url, json=body, headers=admin, timeout=30)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["detail"] == [
        {"loc": ["body", "api_host"], "msg": "String should not contain NUL characters", "type": "string_nul"}
    ]
    jobs = requests.get(
        f"{local_arthur}/api/v1/organization/workspaces",
        params={"name": "a\u0000b"},
        headers=admin,
        timeout=30,
    )
    assert jobs.status_code == 422, jobs.text[:300]
    assert jobs.json()["detail"][0]["type"] == "string_nul"


def test_nul_characters_at_the_provider_never_5xx(local_arthur) -> None:
    base = f"{local_arthur}/api/v1/auth/oidc"
    token = requests.post(
        f"{base}/token",
        data={"grant_type": "client_credentials", "client_id": "a\u0000b", "client_secret": "x"},
        timeout=30,
    )
    assert token.status_code in (400, 401), token.text[:300]
    form = {"grant_type": "client_credentials"}
    basic = requests.post(f"{base}/token", data=form, auth=("a\u0000b", "x"), timeout=30)
    assert basic.status_code in (400, 401), basic.text[:300]
    refresh = requests.post(
        f"{base}/token",
        data={"grant_type": "refresh_token", "refresh_token": "r\u0000", "client_id": "scope-cli-client"},
        timeout=30,
    )
    assert refresh.status_code == 400, refresh.text[:300]
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=30)
    csrf = page.text.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    login = browser.post(
        f"{base}/login", data={"csrfmiddlewaretoken": csrf, "email": "a\u0000@example.com", "password": "x"}, timeout=30
    )
    assert login.status_code == 400, login.text[:300]
    bearer = requests.get(f"{local_arthur}/api/v1/users/me", headers={"Authorization": "Bearer a\u0000b"}, timeout=30)
    assert bearer.status_code == 401, bearer.text[:300]


def test_integers_beyond_the_columns_are_422(local_arthur, admin) -> None:
    from controlplane.models import Job

    job = Job.objects.filter(model_id=TASK_MODEL).first()
    huge = 2**77
    url = f"{local_arthur}/api/v1/jobs/{job.id}"
    patch = requests.patch(url, json={"max_attempts": huge}, headers=admin, timeout=30)
    assert patch.status_code == 422, patch.text[:300]
    listed = requests.get(
        f"{local_arthur}/api/v1/projects/{job.project_id}/jobs",
        params={"error_count_above": huge, "duration_sec_less_than": -huge},
        headers=admin,
        timeout=30,
    )
    assert listed.status_code == 422, listed.text[:300]
    dequeue = requests.post(
        f"{local_arthur}/api/v1/data_planes/{job.data_plane_id}/jobs/next",
        json={"memory_limit_mb": huge},
        headers=admin,
        timeout=30,
    )
    assert dequeue.status_code == 422, dequeue.text[:300]
