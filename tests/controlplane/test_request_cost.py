"""What Local Arthur's hot paths cost in queries: permission checks and bearer-token resolution."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from controlplane.seed_platform import DEMO_TASKS, demo_uuid

pytestmark = pytest.mark.django_db

SUPPORT_MODEL = str(next(task for task in DEMO_TASKS if task.key == "support-bot").model_id)
SUPPORT_PROJECT = str(demo_uuid("project", "Customer Support"))
TASK_PAGE_PERMISSIONS = (
    "model_task_update",
    "model_task_delete",
    "model_task_sync",
    "model_task_get_connection_info",
    "model_task_regenerate_validation_key",
    "model_task_read",
    "model_read",
)


@pytest.fixture
def seeded(settings):
    from controlplane.seed import seed_demo

    settings.ARTHUR_HOST = "http://testserver"
    seed_demo(dashboard_url="http://testserver")


def check(token: str, items: list[dict]) -> tuple[list[bool], int]:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/permissions/check", json.dumps({"permissions": items}), "application/json")
    assert response.status_code == 200, response.content
    return [entry["allowed"] for entry in response.json()["permissions"]], len(queries)


def model_items(names) -> list[dict]:
    return [{"resource_kind": "model", "resource_id": SUPPORT_MODEL, "permission_name": name} for name in names]


def test_seven_permissions_on_one_model_cost_no_more_queries_than_one(seeded, api_token) -> None:
    token = api_token("editor@example.com")
    check(token, model_items(["model_read"]))  # warm anything read once per process

    one, one_queries = check(token, model_items(["model_read"]))
    seven, seven_queries = check(token, model_items(TASK_PAGE_PERMISSIONS))

    assert one == [True]
    assert seven == [True] * 7
    assert seven_queries == one_queries


def test_mixed_kinds_unknown_and_malformed_ids_are_answered_per_item(seeded, api_token) -> None:
    token = api_token("viewer@example.com")
    items = [
        {"resource_kind": "project", "resource_id": SUPPORT_PROJECT, "permission_name": "project_read"},
        {"resource_kind": "project", "resource_id": SUPPORT_PROJECT.upper(), "permission_name": "project_read"},
        *model_items(["model_read", "model_task_update"]),
        {"resource_kind": "model", "resource_id": str(demo_uuid("model", "nowhere")), "permission_name": "model_read"},
        {"resource_kind": "model", "resource_id": "not-a-uuid", "permission_name": "model_read"},
    ]
    allowed, _ = check(token, items)
    assert allowed == [True, True, True, False, False, False]


def test_resolving_a_bearer_token_is_one_query_and_never_serves_a_revoked_one(seeded, api_token) -> None:
    from controlplane.identity.models import OAuth2Token
    from controlplane.identity.tokens import resolve_access_token

    token = api_token("editor@example.com")
    with CaptureQueriesContext(connection) as queries:
        user = resolve_access_token(token)
        assert user is not None and user.email == "editor@example.com" and user.organization_id is not None
    assert len(queries) == 1

    OAuth2Token.objects.filter(access_token=token).update(access_token_revoked_at=int(time.time()))
    assert resolve_access_token(token) is None
