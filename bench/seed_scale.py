"""Seed Local Arthur at benchmark scale, through the control plane's, data plane's and identity's models.

On top of the demo seed (its organization, data plane, people and default rules), under "Demo Org":

- workspace "Bench small" with ``small_projects`` projects and "Bench large" with ``large_projects``;
- in the first large project, ``task_models`` task models, each a task in the engine store with its
  dataset, scope model, connection info and validation key; the first has ``big_rules`` rules;
- every task's cached state is the engine store's own answer (``EngineStore.task_response``), so a
  sync job uploads the very same state and the control plane's cache agrees with the engine;
- one sync job of the big task left *running* (its run's lease far away, so no agent or reaper
  touches it) and one *completed*, for the job tracker's poll fragment;
- ``people`` people ("bench-person-N@example.com", organization admins, the demo password), so that
  concurrent clients are different people, as they are in production.

Run it on a fresh database only (``bench.run`` creates one): seeding twice raises ``ValueError``.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from arthur_api.rules import canonical_config
from controlplane.crypto import encrypt_secret
from controlplane.identity.models import DataPlane, Organization, PlatformUser, Workspace
from controlplane.jobs import job_type_for
from controlplane.models import (
    Connector,
    ConnectorType,
    Dataset,
    Job,
    JobKind,
    JobRun,
    JobState,
    ModelProblemType,
    PlatformModel,
    Project,
    Role,
    RoleBinding,
    TaskConnectionInfo,
    TaskStateCache,
)
from controlplane.seed_platform import DEMO_DATA_PLANE, DEMO_ORGANIZATION
from dataplane.models import EngineApiKey, EngineRule, EngineTask, TaskRuleLink
from dataplane.store import VALIDATION_USER, EngineStore, key_digest, validation_key_name

SMALL_WORKSPACE = "Bench small"
LARGE_WORKSPACE = "Bench large"
# Rules a task other than the big one gets: enough for the task page to show a table.
RULES_PER_SMALL_TASK = 3


@dataclass(frozen=True)
class ScaleSeed:
    """The ids the benchmark drives (all strings, as the dashboard's URLs carry them)."""

    small_workspace_id: str
    large_workspace_id: str
    project_id: str
    model_ids: tuple[str, ...]
    big_model_id: str
    big_rule_count: int
    running_job_id: str
    finished_job_id: str
    people: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@transaction.atomic
def seed_scale(
    *,
    engine_url: str,
    person: str = "admin@example.com",
    small_projects: int = 20,
    large_projects: int = 2000,
    task_models: int = 50,
    big_rules: int = 300,
    people: int = 8,
    password: str = "",
) -> ScaleSeed:
    """Create the benchmark's data (see the module docstring); returns the ids it made.

    ``engine_url`` is the engine's address stored in connection info; ``person`` triggers the jobs;
    the ``people`` made sign in with ``password``.
    Raises LookupError when the demo seed has not run, ValueError when the bench data exists already,
    a count is out of range (at least one large project, one task model, one rule) or people are
    asked for without a password.
    """
    if large_projects < 1 or task_models < 1 or big_rules < 1 or small_projects < 0:
        raise ValueError("need at least one large project, one task model and one rule")
    if people and not password:
        raise ValueError("the bench people need a password to sign in with")
    organization = Organization.objects.filter(name=DEMO_ORGANIZATION).first()
    data_plane = DataPlane.objects.filter(name=DEMO_DATA_PLANE, workspace__organization=organization).first()
    user = PlatformUser.objects.filter(email=person).first()
    if organization is None or data_plane is None or user is None:
        raise LookupError("run the demo seed first: Demo Org, its Demo Engine data plane and the people")
    if Workspace.objects.filter(organization=organization, name__in=[SMALL_WORKSPACE, LARGE_WORKSPACE]).exists():
        raise ValueError("the bench data is already seeded: use a fresh database")

    small = Workspace.objects.create(organization=organization, name=SMALL_WORKSPACE)
    large = Workspace.objects.create(organization=organization, name=LARGE_WORKSPACE)
    _projects(small, small_projects)
    projects = _projects(large, large_projects)
    project = projects[0]
    connector = Connector.objects.create(
        project=project,
        data_plane=data_plane,
        connector_type=ConnectorType.ENGINE_INTERNAL,
        name=f"{data_plane.name} GenAI Engine",
        fields=[],
    )
    store = EngineStore(api_host=engine_url)
    models = [
        _task_model(store, connector, f"bench-task-{index:02d}", big_rules if index == 0 else RULES_PER_SMALL_TASK)
        for index in range(task_models)
    ]
    big = models[0]
    running = _sync_job(big, user, JobState.RUNNING)
    finished = _sync_job(big, user, JobState.COMPLETED)
    emails = [_person(organization, index + 1, password) for index in range(people)]
    return ScaleSeed(
        small_workspace_id=str(small.id),
        large_workspace_id=str(large.id),
        project_id=str(project.id),
        model_ids=tuple(str(model.id) for model in models),
        big_model_id=str(big.id),
        big_rule_count=big_rules,
        running_job_id=str(running.id),
        finished_job_id=str(finished.id),
        people=tuple(emails),
    )


def _person(organization: Organization, number: int, password: str) -> str:
    email = f"bench-person-{number}@example.com"
    person = PlatformUser.objects.create(
        organization=organization,
        user_type=PlatformUser.UserType.USER,
        email=email,
        first_name="Bench",
        last_name=f"Person {number}",
    )
    person.set_secret(password)
    person.save(update_fields=["secret_hash"])
    RoleBinding.objects.create(user=person, role=Role.ORGANIZATION_ADMIN, organization=organization)
    return email


def _projects(workspace: Workspace, count: int) -> list[Project]:
    # Created a second apart so every sort order the projects page offers is stable.
    start = timezone.now() - timedelta(seconds=count)
    projects = [
        Project(
            workspace=workspace,
            name=f"bench-project-{index:04d}",
            description=f"Benchmark project {index} of {count}.",
            created_at=start + timedelta(seconds=index),
        )
        for index in range(count)
    ]
    return Project.objects.bulk_create(projects, batch_size=500)


def _task_model(store: EngineStore, connector: Connector, name: str, rule_count: int) -> PlatformModel:
    """One task in the engine store (default rules linked, ``rule_count`` rules of its own, a
    validation key) and its scope model, dataset, connection info and cached state on the control plane."""
    task = EngineTask.objects.create(name=name)
    now = timezone.now()
    own = EngineRule.objects.bulk_create(
        [
            EngineRule(
                name=f"{name} keywords {index:03d}",
                type="KeywordRule",
                apply_to_prompt=True,
                apply_to_response=index % 2 == 0,
                scope=EngineRule.Scope.TASK,
                config=canonical_config("KeywordRule", {"keywords": [f"blocked-{index}", f"forbidden-{index}"]}),
                task=task,
                created_at=now + timedelta(milliseconds=index),
                updated_at=now + timedelta(milliseconds=index),
            )
            for index in range(rule_count)
        ]
    )
    defaults = EngineRule.objects.filter(scope=EngineRule.Scope.DEFAULT, is_archived=False)
    TaskRuleLink.objects.bulk_create([TaskRuleLink(task=task, rule=rule, enabled=True) for rule in [*defaults, *own]])
    key = f"bench-{secrets.token_urlsafe(24)}"
    api_key = EngineApiKey.objects.create(
        description=validation_key_name(task.id), roles=[VALIDATION_USER], key_digest=key_digest(key), task=task
    )

    project, data_plane = connector.project, connector.data_plane
    dataset = Dataset.objects.create(
        project=project,
        connector=connector,
        data_plane=data_plane,
        name=name,
        dataset_locator={"fields": [{"key": "task_id", "value": str(task.id)}]},
        dataset_schema={"alias_mask": {}, "columns": []},
        model_problem_type=ModelProblemType.ARTHUR_SHIELD,
    )
    model = PlatformModel.objects.create(
        project=project,
        data_plane=data_plane,
        name=name,
        description=f"This model corresponds to task {name} in connector {connector.name}",
        onboarding_identifier=f"bench:{name}",
        task_id=task.id,
    )
    model.datasets.add(dataset)
    TaskStateCache.objects.create(
        model=model,
        task=store.task_response(task.id),
        evals=[],
        continuous_evals=[],
        transforms=[],
        last_synced_at=timezone.now(),
    )
    TaskConnectionInfo.objects.create(
        model=model,
        api_host=store.api_host,
        key_id=str(api_key.id),
        key_name=api_key.description,
        key_ciphertext=encrypt_secret(key),
    )
    return model


def _sync_job(model: PlatformModel, user: PlatformUser, state: str) -> Job:
    """A sync job of ``model`` in ``state`` (running: its lease outlives the benchmark)."""
    now = timezone.now()
    finished = state != JobState.RUNNING
    job = Job.objects.create(
        id=uuid.uuid4(),
        kind=JobKind.FETCH_MODEL_TASK,
        job_spec={"job_type": job_type_for(JobKind.FETCH_MODEL_TASK), "scope_model_id": str(model.id)},
        state=state,
        project=model.project,
        data_plane=model.data_plane,
        model_id=model.id,
        queued_at=now - timedelta(seconds=3),
        ready_at=now - timedelta(seconds=3),
        started_at=now - timedelta(seconds=2),
        finished_at=now if finished else None,
        duration_sec=2 if finished else None,
        triggered_by_user=user,
        attempts=1,
    )
    JobRun.objects.create(
        job=job,
        state=state,
        job_attempt=1,
        start_timestamp=job.started_at,
        end_timestamp=job.finished_at,
        lease_expires_at=now + timedelta(days=1),
    )
    return job
