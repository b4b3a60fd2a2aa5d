"""Local Arthur control-plane data: projects, connectors, datasets, models, task caches, jobs, roles.

Tenancy hangs off ``controlplane.identity``: organization → workspaces → projects → models. A task
lives on a data plane; the control plane only knows it through its *scope model* (one dataset on the
project's ``engine_internal`` connector whose locator holds ``task_id``), the cached copy of its
state the data plane uploads, and the jobs it enqueues for the data plane to pull.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from controlplane.identity.models import DataPlane, Organization, PlatformUser, TimestampedModel, Workspace


class Project(TimestampedModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    description = models.TextField(null=True, blank=True)
    system_project = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="project_name_unique")]

    def __str__(self) -> str:
        return self.name


class ConnectorType(models.TextChoices):
    SHIELD = "shield"
    S3 = "S3"
    GCS = "GCS"
    BIGQUERY = "BigQuery"
    ENGINE_INTERNAL = "engine_internal"
    ODBC = "odbc"
    SNOWFLAKE = "snowflake"
    DATABRICKS = "databricks"
    AZURE_BLOB = "AzureBlob"


# Connector types whose datasets are GenAI-engine tasks (the ml-engine's rule, reference §2.3).
TASK_CONNECTOR_TYPES = frozenset({ConnectorType.SHIELD, ConnectorType.ENGINE_INTERNAL})


class Connector(TimestampedModel):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="connectors")
    data_plane = models.ForeignKey(DataPlane, on_delete=models.CASCADE, related_name="connectors")
    connector_type = models.CharField(max_length=32, choices=ConnectorType)
    name = models.CharField(max_length=200)
    temporary = models.BooleanField(default=False)
    # [{key, value, d_type, is_sensitive}]; sensitive values are only served by the /sensitive view.
    fields = models.JSONField(default=list, blank=True)
    last_updated_by_user = models.ForeignKey(PlatformUser, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [
            # One engine_internal connector per (project, data plane), as the platform's recipes assume.
            models.UniqueConstraint(
                fields=["project", "data_plane"],
                condition=models.Q(connector_type="engine_internal"),
                name="one_engine_internal_per_project_data_plane",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ModelProblemType(models.TextChoices):
    REGRESSION = "regression"
    BINARY_CLASSIFICATION = "binary_classification"
    ARTHUR_SHIELD = "arthur_shield"
    CUSTOM = "custom"
    MULTICLASS_CLASSIFICATION = "multiclass_classification"
    AGENTIC_TRACE = "agentic_trace"


class Dataset(TimestampedModel):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets")
    connector = models.ForeignKey(Connector, null=True, blank=True, on_delete=models.CASCADE, related_name="datasets")
    data_plane = models.ForeignKey(DataPlane, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200, null=True, blank=True)
    # {"fields": [{"key": "task_id", "value": "<uuid>"}]}
    dataset_locator = models.JSONField(null=True, blank=True)
    dataset_schema = models.JSONField(default=dict, blank=True)
    model_problem_type = models.CharField(max_length=40, choices=ModelProblemType)
    is_static = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name or str(self.id)

    @property
    def task_id(self) -> str | None:
        """The locator's ``task_id`` value (task datasets only), or None."""
        fields = (self.dataset_locator or {}).get("fields") or []
        values = [field.get("value") for field in fields if field.get("key") == "task_id"]
        return values[0] if len(values) == 1 else None


class PlatformModel(TimestampedModel):
    """A platform ``Model``; a *scope model* when it represents one GenAI-engine task."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="models")
    data_plane = models.ForeignKey(DataPlane, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=200)
    description = models.TextField(null=True, blank=True)
    onboarding_identifier = models.CharField(max_length=1024, null=True, blank=True, db_index=True)
    datasets = models.ManyToManyField(Dataset, related_name="models", blank=True)
    metric_config_id = models.UUIDField(default=uuid.uuid4, editable=False)
    last_updated_by_user = models.ForeignKey(PlatformUser, null=True, blank=True, on_delete=models.SET_NULL)
    # Denormalised from the task dataset's locator so the hot task endpoints need no join.
    task_id = models.UUIDField(null=True, blank=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["project", "created_at"], name="model_project_created")]

    def __str__(self) -> str:
        return self.name


class TaskStateCache(models.Model):
    """The copy of a task's state the data plane last uploaded (``PUT /models/{id}/task/cache``)."""

    model = models.OneToOneField(PlatformModel, primary_key=True, on_delete=models.CASCADE, related_name="task_cache")
    task = models.JSONField()
    evals = models.JSONField(null=True, blank=True)
    continuous_evals = models.JSONField(null=True, blank=True)
    transforms = models.JSONField(null=True, blank=True)
    last_synced_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"task cache of {self.model_id}"


class TaskConnectionInfo(models.Model):
    """Where a task is served and its validation key; the key is stored encrypted (controlplane.crypto)."""

    model = models.OneToOneField(
        PlatformModel, primary_key=True, on_delete=models.CASCADE, related_name="connection_info"
    )
    api_host = models.CharField(max_length=500)
    key_id = models.CharField(max_length=200)
    key_name = models.CharField(max_length=500)
    key_ciphertext = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:  # never shows the key, even in debug output
        return f"connection info of {self.model_id} (key {self.key_id})"


class JobKind(models.TextChoices):
    METRICS_CALCULATION = "metrics_calculation"
    CONNECTOR_CHECK = "connector_check"
    LIST_DATASETS = "list_datasets"
    SCHEMA_INSPECTION = "schema_inspection"
    FETCH_DATA = "fetch_data"
    ALERT_CHECK = "alert_check"
    SCHEDULE_JOBS = "schedule_jobs"
    CREATE_MODEL_TASK = "create_model_task"
    CREATE_MODEL_LINK_TASK = "create_model_link_task"
    UPDATE_MODEL_TASK_RULES = "update_model_task_rules"
    DELETE_MODEL_TASK = "delete_model_task"
    FETCH_MODEL_TASK = "fetch_model_task"
    REGENERATE_TASK_VALIDATION_KEY = "regenerate_task_validation_key"
    TEST_CUSTOM_AGGREGATION = "test_custom_aggregation"
    DISCOVER_AGENTS = "discover_agents"
    COMPLIANCE_POLICY_CHECK = "compliance_policy_check"
    FETCH_DISCOVERED_AGENTS = "fetch_discovered_agents"
    TEST_DISCOVERY_SOURCE = "test_discovery_source"


class JobState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_JOB_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})


class JobTrigger(models.TextChoices):
    USER = "user"
    SCHEDULE = "schedule"
    EVENT = "event"


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=40, choices=JobKind)
    # Always carries ``job_type`` (controlplane.jobs builds it).
    job_spec = models.JSONField()
    state = models.CharField(max_length=20, choices=JobState, default=JobState.QUEUED)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
    data_plane = models.ForeignKey(DataPlane, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    # The scope model the job is about; a plain column so the job outlives a deleted model.
    model_id = models.UUIDField(null=True, blank=True, db_index=True)
    queued_at = models.DateTimeField(default=timezone.now)
    ready_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_sec = models.IntegerField(null=True, blank=True)
    error_count = models.IntegerField(default=0)
    trigger_type = models.CharField(max_length=20, choices=JobTrigger, default=JobTrigger.USER)
    triggered_by_user = models.ForeignKey(PlatformUser, null=True, blank=True, on_delete=models.SET_NULL)
    schedule_id = models.UUIDField(null=True, blank=True)
    attempts = models.IntegerField(default=0)
    max_attempts = models.IntegerField(default=3)
    nonce = models.CharField(max_length=200, null=True, blank=True, unique=True)
    memory_requirements_mb = models.IntegerField(default=50)
    job_priority = models.IntegerField(default=100)

    class Meta:
        indexes = [
            # Dequeue: the oldest ready job of one data plane.
            models.Index(fields=["data_plane", "state", "queued_at"], name="job_dequeue"),
            models.Index(fields=["project", "queued_at"], name="job_project_queued"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


class JobRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    state = models.CharField(max_length=20, choices=JobState, default=JobState.RUNNING)
    job_attempt = models.IntegerField()
    start_timestamp = models.DateTimeField(default=timezone.now)
    end_timestamp = models.DateTimeField(null=True, blank=True)
    # The agent keeps the run alive by reporting (logs, errors); past this the run is presumed dead.
    lease_expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["state", "lease_expires_at"], name="jobrun_lease")]

    def __str__(self) -> str:
        return f"run {self.job_attempt} of job {self.job_id}"


class JobLogLevel(models.TextChoices):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class JobLog(models.Model):
    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="logs")
    log_level = models.CharField(max_length=10, choices=JobLogLevel)
    log = models.TextField()
    log_timestamp = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["run", "log_timestamp"], name="joblog_run_ts")]

    def __str__(self) -> str:
        return f"{self.log_level}: {self.log[:80]}"


class JobError(models.Model):
    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="errors")
    error = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.error[:80]


class Role(models.TextChoices):
    ORGANIZATION_ADMIN = "organization_admin"
    PROJECT_EDITOR = "project_editor"
    PROJECT_VIEWER = "project_viewer"
    SERVICE_ACCOUNT = "service_account"


class RoleBinding(models.Model):
    """Grants `role` to `user` on a whole organization or on one project (exactly one scope)."""

    user = models.ForeignKey(PlatformUser, on_delete=models.CASCADE, related_name="role_bindings")
    role = models.CharField(max_length=40, choices=Role)
    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.CASCADE)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(organization__isnull=False, project__isnull=True)
                | models.Q(organization__isnull=True, project__isnull=False),
                name="role_binding_one_scope",
            ),
            # NULLs are distinct in unique indexes: one conditional constraint per scope.
            models.UniqueConstraint(
                fields=["user", "role", "organization"],
                condition=models.Q(project__isnull=True),
                name="role_binding_org_unique",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "project"],
                condition=models.Q(organization__isnull=True),
                name="role_binding_project_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} on {self.organization or self.project}"
