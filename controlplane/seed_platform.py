"""Demo projects, connectors, task models, jobs and role bindings (runs after the identity seed).

Every id is a uuid5 of a name, so the data-plane seed can import `DEMO_TASKS` /
`DEMO_DEFAULT_RULES` / `demo_validation_key` and create the very same tasks, rules and keys in its
engine store. The cached task state written here is what the engine would upload; the agent
reconciles it later. Idempotent: rows are created when missing and never overwritten, so state a
job uploaded since survives a re-seed.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
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
    JobError,
    JobKind,
    JobLog,
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

DEMO_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://local-arthur.invalid/demo")
DEMO_ORGANIZATION = "Demo Org"
DEMO_DATA_PLANE = "Demo Engine"
# 2025-11-24T16:00:00Z: a fixed origin keeps task/rule timestamps identical on every seed.
_EPOCH_MS = 1764000000000


def demo_uuid(kind: str, name: str) -> uuid.UUID:
    """The stable id of a demo object (`kind` e.g. "task", "rule", "model"; `name` its key)."""
    return uuid.uuid5(DEMO_NAMESPACE, f"{kind}:{name}")


def demo_validation_key(task_id: uuid.UUID | str) -> str:
    """The demo validation key of a task, derived from LOCAL_ARTHUR_ENCRYPTION_KEY (so it is not
    guessable from the code) and stable across seeds (so the engine store can hold the same key)."""
    digest = hmac.new(
        settings.LOCAL_ARTHUR_ENCRYPTION_KEY.encode(), f"validation-key:{task_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"demo-{digest[:40]}"


def demo_engine_url() -> str:
    """Where the embedded engine serves validation (the same rule as the data-plane agent's)."""
    return settings.DATAPLANE_ENGINE_URL or f"{settings.ARTHUR_HOST}/engine"


@dataclass(frozen=True)
class DemoRule:
    key: str
    name: str
    type: str
    apply_to_prompt: bool
    apply_to_response: bool
    scope: str
    config: dict[str, Any] | None
    offset_ms: int

    @property
    def id(self) -> uuid.UUID:
        return demo_uuid("rule", self.key)

    def response(self, *, enabled: bool) -> dict[str, Any]:
        """The engine's ``RuleResponse`` JSON for this rule as linked to one task."""
        return {
            "id": str(self.id),
            "name": self.name,
            "type": self.type,
            "apply_to_prompt": self.apply_to_prompt,
            "apply_to_response": self.apply_to_response,
            "enabled": enabled,
            "scope": self.scope,
            "created_at": _EPOCH_MS + self.offset_ms,
            "updated_at": _EPOCH_MS + self.offset_ms,
            "config": canonical_config(self.type, self.config),
        }


DEMO_DEFAULT_RULES: tuple[DemoRule, ...] = (
    DemoRule(
        "default-pii",
        "Default PII Rule",
        "PIIDataRule",
        True,
        True,
        "default",
        {"disabled_pii_entities": ["URL"], "confidence_threshold": 0.0, "allow_list": ["arthur.ai"]},
        0,
    ),
    DemoRule(
        "default-prompt-injection",
        "Default Prompt Injection Rule",
        "PromptInjectionRule",
        True,
        False,
        "default",
        None,
        1000,
    ),
)


@dataclass(frozen=True)
class DemoTask:
    key: str
    name: str
    project: str
    offset_ms: int
    rules: tuple[DemoRule, ...]
    archived: bool = False
    # Rule keys (task or default) that are linked but disabled on this task.
    disabled: frozenset[str] = field(default_factory=frozenset)

    @property
    def task_id(self) -> uuid.UUID:
        return demo_uuid("task", self.key)

    @property
    def model_id(self) -> uuid.UUID:
        return demo_uuid("model", self.key)

    @property
    def dataset_id(self) -> uuid.UUID:
        return demo_uuid("dataset", self.key)

    @property
    def validation_key_id(self) -> uuid.UUID:
        return demo_uuid("validation-key", self.key)

    @property
    def validation_key_name(self) -> str:
        return f"Task Validation Key - {self.task_id}"

    def linked_rules(self) -> tuple[DemoRule, ...]:
        """Default rules first (the engine links them on creation), then the task's own rules."""
        return DEMO_DEFAULT_RULES + self.rules

    def task_response(self) -> dict[str, Any]:
        """The engine's ``TaskResponse`` JSON (timestamps in unix ms)."""
        return {
            "id": str(self.task_id),
            "name": self.name,
            "created_at": _EPOCH_MS + self.offset_ms,
            "updated_at": _EPOCH_MS + self.offset_ms + 60_000,
            "is_agentic": False,
            "is_system_task": False,
            "is_autocreated": False,
            "is_archived": self.archived,
            "agent_metadata": None,
            "rules": [rule.response(enabled=rule.key not in self.disabled) for rule in self.linked_rules()],
            "metrics": [],
        }


_HOUR = 3_600_000
DEMO_PROJECTS: tuple[tuple[str, int], ...] = (
    # (project name, index of its workspace in name order)
    ("Customer Support", 0),
    ("Claims Automation", 0),
    ("People Operations", 1),
)
DEMO_TASKS: tuple[DemoTask, ...] = (
    DemoTask(
        "support-bot",
        "support-bot",
        "Customer Support",
        1 * _HOUR,
        (
            DemoRule(
                "support-keywords",
                "Blocked Keywords Rule",
                "KeywordRule",
                True,
                True,
                "task",
                {"keywords": ["refund hack", "competitor discount"]},
                1 * _HOUR + 1000,
            ),
            DemoRule(
                "support-ssn",
                "SSN Regex Rule",
                "RegexRule",
                True,
                True,
                "task",
                {"regex_patterns": [r"\d{3}-\d{2}-\d{4}"]},
                1 * _HOUR + 2000,
            ),
            DemoRule(
                "support-toxicity",
                "Toxicity Rule",
                "ToxicityRule",
                True,
                True,
                "task",
                {"threshold": 0.7},
                1 * _HOUR + 3000,
            ),
        ),
    ),
    DemoTask(
        "claims-assistant",
        "claims-assistant",
        "Claims Automation",
        2 * _HOUR,
        (
            DemoRule(
                "claims-sensitive",
                "Blood Type Sensitive Data Rule",
                "ModelSensitiveDataRule",
                True,
                False,
                "task",
                {
                    "examples": [
                        {"example": "John has O negative blood group", "result": True},
                        {"example": "Most people have A positive blood group", "result": False},
                    ],
                    "hint": "specific individual's blood types",
                },
                2 * _HOUR + 1000,
            ),
            DemoRule(
                "claims-hallucination",
                "Hallucination Rule",
                "ModelHallucinationRuleV2",
                False,
                True,
                "task",
                None,
                2 * _HOUR + 2000,
            ),
            DemoRule(
                "claims-policy-numbers",
                "Policy Number Regex Rule",
                "RegexRule",
                True,
                True,
                "task",
                {"regex_patterns": [r"POL-\d{8}"]},
                2 * _HOUR + 3000,
            ),
        ),
        disabled=frozenset({"claims-policy-numbers"}),
    ),
    DemoTask(
        "hr-helpdesk",
        "hr-helpdesk",
        "People Operations",
        3 * _HOUR,
        (
            DemoRule(
                "hr-pii",
                "Employee PII Rule",
                "PIIDataRule",
                True,
                True,
                "task",
                {"disabled_pii_entities": [], "confidence_threshold": 0.5, "allow_list": []},
                3 * _HOUR + 1000,
            ),
            DemoRule(
                "hr-salary",
                "Salary Keywords Rule",
                "KeywordRule",
                False,
                True,
                "task",
                {"keywords": ["salary band", "compensation table"]},
                3 * _HOUR + 2000,
            ),
            DemoRule(
                "hr-injection",
                "Strict Prompt Injection Rule",
                "PromptInjectionRule",
                True,
                False,
                "task",
                None,
                3 * _HOUR + 3000,
            ),
        ),
        disabled=frozenset({"default-pii"}),
    ),
    DemoTask(
        "legacy-faq-bot",
        "legacy-faq-bot",
        "Customer Support",
        0,
        (
            DemoRule(
                "legacy-toxicity", "Legacy Toxicity Rule", "ToxicityRule", True, True, "task", {"threshold": 0.5}, 1000
            ),
        ),
        archived=True,
    ),
)

# Role bindings: (identity, role, project name or None for the organization).
DEMO_BINDINGS: tuple[tuple[str, str, str | None], ...] = (
    ("admin@example.com", Role.ORGANIZATION_ADMIN, None),
    ("arthur-sa-demo", Role.ORGANIZATION_ADMIN, None),
    ("editor@example.com", Role.PROJECT_EDITOR, "Customer Support"),
    ("editor@example.com", Role.PROJECT_EDITOR, "Claims Automation"),
    ("editor@example.com", Role.PROJECT_VIEWER, "People Operations"),
    ("viewer@example.com", Role.PROJECT_VIEWER, "Customer Support"),
    ("viewer@example.com", Role.PROJECT_VIEWER, "Claims Automation"),
    ("viewer@example.com", Role.PROJECT_VIEWER, "People Operations"),
)


def seed_platform() -> str:
    """Create the demo platform data under the identity seed's organization; returns a summary.

    Raises LookupError when the identity seed has not created "Demo Org", its workspaces, the
    "Demo Engine" data plane or the demo identities.
    """
    organization = Organization.objects.filter(name=DEMO_ORGANIZATION).first()
    if organization is None:
        raise LookupError(f"identity seed missing: no organization {DEMO_ORGANIZATION!r}")
    workspaces = list(Workspace.objects.filter(organization=organization).order_by("name")[:2])
    if len(workspaces) < 2:
        raise LookupError("identity seed missing: the demo organization needs two workspaces")
    data_plane = DataPlane.objects.filter(workspace=workspaces[0], name=DEMO_DATA_PLANE).first()
    if data_plane is None:
        raise LookupError(f"identity seed missing: no data plane {DEMO_DATA_PLANE!r} in {workspaces[0].name!r}")

    projects = {name: _project(workspaces[index], name) for name, index in DEMO_PROJECTS}
    connectors = {name: _connector(project, data_plane) for name, project in projects.items()}
    admin = PlatformUser.objects.filter(email="admin@example.com").first()
    editor = PlatformUser.objects.filter(email="editor@example.com").first() or admin
    for task in DEMO_TASKS:
        model = _task_model(task, projects[task.project], connectors[task.project], data_plane)
        _demo_jobs(task, model, connectors[task.project], triggered_by=editor)
    bindings = _bindings(organization, projects)
    return f"{len(projects)} projects, {len(DEMO_TASKS)} task models on {data_plane.name}, {bindings} role bindings"


def _project(workspace: Workspace, name: str) -> Project:
    project, _ = Project.objects.get_or_create(
        id=demo_uuid("project", name),
        defaults={"workspace": workspace, "name": name, "description": f"Demo project: {name}."},
    )
    return project


def _connector(project: Project, data_plane: DataPlane) -> Connector:
    connector, _ = Connector.objects.get_or_create(
        id=demo_uuid("connector", project.name),
        defaults={
            "project": project,
            "data_plane": data_plane,
            "connector_type": ConnectorType.ENGINE_INTERNAL,
            "name": f"{data_plane.name} GenAI Engine",
            "fields": [],
        },
    )
    return connector


def _task_model(task: DemoTask, project: Project, connector: Connector, data_plane: DataPlane) -> PlatformModel:
    dataset, _ = Dataset.objects.get_or_create(
        id=task.dataset_id,
        defaults={
            "project": project,
            "connector": connector,
            "data_plane": data_plane,
            "name": task.name,
            "dataset_locator": {"fields": [{"key": "task_id", "value": str(task.task_id)}]},
            "dataset_schema": {"alias_mask": {}, "columns": []},
            "model_problem_type": ModelProblemType.ARTHUR_SHIELD,
        },
    )
    model, created = PlatformModel.objects.get_or_create(
        id=task.model_id,
        defaults={
            "project": project,
            "data_plane": data_plane,
            "name": task.name,
            "description": f"This model corresponds to task {task.name} in connector {connector.name}",
            "onboarding_identifier": f"demo:{task.key}",
            "task_id": task.task_id,
        },
    )
    if created:
        model.datasets.add(dataset)
    TaskStateCache.objects.get_or_create(
        model=model,
        defaults={
            "task": task.task_response(),
            "evals": [],
            "continuous_evals": [],
            "transforms": [],
            "last_synced_at": timezone.now(),
        },
    )
    if not task.archived:
        TaskConnectionInfo.objects.get_or_create(
            model=model,
            defaults={
                "api_host": demo_engine_url(),
                "key_id": str(task.validation_key_id),
                "key_name": task.validation_key_name,
                "key_ciphertext": encrypt_secret(demo_validation_key(task.task_id)),
            },
        )
    return model


def _demo_jobs(task: DemoTask, model: PlatformModel, connector: Connector, *, triggered_by) -> None:
    """A finished create job per task (with its logs); one failed sync with an error on the
    claims task, so the failure views have something to show."""
    _finished_job(
        demo_uuid("job", f"create:{task.key}"),
        JobKind.CREATE_MODEL_TASK,
        {
            "connector_id": str(connector.id),
            "task_name": task.name,
            "onboarding_identifier": model.onboarding_identifier,
            "initial_rules": [
                {
                    "name": r.name,
                    "type": r.type,
                    "apply_to_prompt": r.apply_to_prompt,
                    "apply_to_response": r.apply_to_response,
                    "config": r.config,
                }
                for r in task.rules
            ],
            "initial_metrics": [],
            "agent_metadata": None,
        },
        model,
        connector.data_plane,
        triggered_by,
        hours_ago=48,
        logs=[
            ("info", f"Created task {task.task_id} with {len(task.rules)} rules"),
            ("info", f"Created model {model.id} for task {task.task_id}"),
        ],
    )
    if task.key == "claims-assistant":
        _finished_job(
            demo_uuid("job", f"sync:{task.key}"),
            JobKind.FETCH_MODEL_TASK,
            {"scope_model_id": str(model.id)},
            model,
            connector.data_plane,
            triggered_by,
            hours_ago=24,
            logs=[("error", "Error executing job: engine unavailable (connection refused)")],
            error="engine unavailable (connection refused)",
        )


def _finished_job(job_id, kind, spec, model, data_plane, triggered_by, *, hours_ago, logs, error=None) -> None:
    if Job.objects.filter(id=job_id).exists():
        return
    queued = timezone.now() - timedelta(hours=hours_ago)
    finished = queued + timedelta(seconds=3)
    state = JobState.FAILED if error else JobState.COMPLETED
    job = Job.objects.create(
        id=job_id,
        kind=kind,
        job_spec={"job_type": job_type_for(kind), **spec},
        state=state,
        project=model.project,
        data_plane=data_plane,
        model_id=model.id,
        queued_at=queued,
        ready_at=queued,
        started_at=queued + timedelta(seconds=1),
        finished_at=finished,
        duration_sec=2,
        error_count=1 if error else 0,
        triggered_by_user=triggered_by,
        attempts=1,
        max_attempts=1 if error else 3,
    )
    run = JobRun.objects.create(
        id=demo_uuid("job-run", str(job_id)),
        job=job,
        state=state,
        job_attempt=1,
        start_timestamp=job.started_at,
        end_timestamp=finished,
        lease_expires_at=finished,
    )
    lines = [("info", f"Starting job {job.id} - {kind}"), *logs]
    lines.append(("error", f"Job {job.id} - {kind} failed") if error else ("info", f"Job {job.id} - {kind} completed"))
    JobLog.objects.bulk_create(
        [
            JobLog(run=run, log_level=level, log=text, log_timestamp=job.started_at + timedelta(milliseconds=300 * i))
            for i, (level, text) in enumerate(lines)
        ]
    )
    if error:
        JobError.objects.create(run=run, error=error, created_at=finished)


def _bindings(organization: Organization, projects: dict[str, Project]) -> int:
    count = 0
    for identity, role, project_name in DEMO_BINDINGS:
        lookup = {"email": identity} if "@" in identity else {"client_id": identity}
        user = PlatformUser.objects.filter(organization=organization, **lookup).first()
        if user is None:
            continue  # the identity seed decides which identities exist
        if project_name is None:
            RoleBinding.objects.get_or_create(user=user, role=role, organization=organization, project=None)
        else:
            RoleBinding.objects.get_or_create(user=user, role=role, organization=None, project=projects[project_name])
        count += 1
    return count
