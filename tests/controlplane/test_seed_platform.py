"""The demo platform seed: complete, idempotent, stable ids, secrets encrypted at rest."""

from __future__ import annotations

import pytest

from controlplane.crypto import decrypt_secret
from controlplane.models import (
    Connector,
    Job,
    JobLog,
    PlatformModel,
    Project,
    Role,
    RoleBinding,
    TaskConnectionInfo,
    TaskStateCache,
)
from controlplane.seed import seed_demo
from controlplane.seed_platform import DEMO_TASKS, demo_uuid, demo_validation_key, seed_platform

RULE_TYPES = {
    "KeywordRule",
    "RegexRule",
    "PIIDataRule",
    "ToxicityRule",
    "PromptInjectionRule",
    "ModelHallucinationRuleV2",
    "ModelSensitiveDataRule",
}


@pytest.fixture
def seeded(db) -> str:
    return seed_demo(dashboard_url="http://testserver")


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Project, Connector, PlatformModel, TaskStateCache, TaskConnectionInfo, Job, JobLog, RoleBinding)
    }


def test_seed_is_idempotent(seeded):
    before = _counts()
    summary = seed_platform()
    assert _counts() == before
    assert summary.startswith("3 projects, 4 task models on Demo Engine")


def test_projects_span_both_workspaces_each_with_an_engine_internal_connector(seeded):
    projects = Project.objects.select_related("workspace")
    assert projects.count() >= 3
    assert {p.workspace.name for p in projects} == {"Production", "Research"}
    for project in projects:
        [connector] = project.connectors.all()
        assert connector.connector_type == "engine_internal" and connector.data_plane.name == "Demo Engine"


def test_cached_tasks_cover_every_rule_type_and_scope(seeded):
    caches = [TaskStateCache.objects.get(model_id=task.model_id).task for task in DEMO_TASKS]
    rules = [rule for task in caches for rule in task["rules"]]
    assert {rule["type"] for rule in rules} == RULE_TYPES
    assert {rule["scope"] for rule in rules} == {"default", "task"}
    assert sum(task["is_archived"] for task in caches) == 1
    assert any(rule["enabled"] is False for rule in rules)
    assert all(isinstance(rule["created_at"], int) for rule in rules)


def test_models_are_scope_models_with_stable_ids(seeded):
    for task in DEMO_TASKS:
        model = PlatformModel.objects.get(id=task.model_id)
        assert model.task_id == task.task_id
        [dataset] = model.datasets.all()
        assert dataset.task_id == str(task.task_id)
    assert demo_uuid("task", "support-bot") == DEMO_TASKS[0].task_id


def test_connection_info_is_encrypted_and_matches_the_demo_key(seeded):
    live = [task for task in DEMO_TASKS if not task.archived]
    assert TaskConnectionInfo.objects.count() == len(live)
    for task in live:
        info = TaskConnectionInfo.objects.get(model_id=task.model_id)
        key = demo_validation_key(task.task_id)
        assert key not in info.key_ciphertext
        assert decrypt_secret(info.key_ciphertext) == key
        assert info.key_id == str(task.validation_key_id)


def test_finished_jobs_with_logs(seeded):
    finished = Job.objects.filter(state__in=["completed", "failed"])
    assert finished.count() == len(DEMO_TASKS) + 1
    assert all(job.job_spec["job_type"] for job in finished)
    assert JobLog.objects.filter(run__job__in=finished).count() >= 3 * finished.count()


def test_role_bindings(seeded):
    def roles(identity: str) -> set[tuple[str, str | None]]:
        lookup = {"user__email": identity} if "@" in identity else {"user__client_id": identity}
        return {
            (b.role, b.project.name if b.project else None)
            for b in RoleBinding.objects.filter(**lookup).select_related("project")
        }

    assert roles("admin@example.com") == {(Role.ORGANIZATION_ADMIN, None)}
    assert roles("arthur-sa-demo") == {(Role.ORGANIZATION_ADMIN, None)}
    assert roles("editor@example.com") == {
        (Role.PROJECT_EDITOR, "Customer Support"),
        (Role.PROJECT_EDITOR, "Claims Automation"),
        (Role.PROJECT_VIEWER, "People Operations"),
    }
    assert {project for _, project in roles("viewer@example.com")} == set(
        Project.objects.values_list("name", flat=True)
    )


def test_seed_needs_the_identity_seed_first(db):
    with pytest.raises(LookupError):
        seed_platform()
