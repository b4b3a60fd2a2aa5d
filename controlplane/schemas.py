"""Wire shapes of Local Arthur's API, matching the official ``arthur-client`` 1.4.2919 models.

Task and rule timestamps are unix milliseconds (ints); every other timestamp is ISO-8601. Request
schemas ignore unknown keys (older clients send e.g. ``is_agentic``), as a lenient platform would.
Rule ``config`` and job specs stay raw JSON: the variant is implied by the rule type / job kind.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import Field, StrictBool, StrictInt, StrictStr

UserType = Literal["user", "data_plane", "service_account"]
JobStateName = Literal["queued", "running", "completed", "failed", "cancelled"]
JobKindName = Literal[
    "metrics_calculation",
    "connector_check",
    "list_datasets",
    "schema_inspection",
    "fetch_data",
    "alert_check",
    "schedule_jobs",
    "create_model_task",
    "create_model_link_task",
    "update_model_task_rules",
    "delete_model_task",
    "fetch_model_task",
    "regenerate_task_validation_key",
    "test_custom_aggregation",
    "discover_agents",
    "compliance_policy_check",
    "fetch_discovered_agents",
    "test_discovery_source",
]
JobTriggerName = Literal["user", "schedule", "event"]
JobLogLevelName = Literal["debug", "info", "warning", "error", "critical"]
SortOrder = Literal["asc", "desc"]
ConnectorTypeName = Literal[
    "shield", "S3", "GCS", "BigQuery", "engine_internal", "odbc", "snowflake", "databricks", "AzureBlob"
]
ModelProblemTypeName = Literal[
    "regression", "binary_classification", "arthur_shield", "custom", "multiclass_classification", "agentic_trace"
]
InfrastructureName = Literal["AWS", "Azure", "GCP", "Docker", "Kubernetes"]
RuleTypeName = Literal[
    "KeywordRule",
    "ModelHallucinationRuleV2",
    "ModelSensitiveDataRule",
    "PIIDataRule",
    "PromptInjectionRule",
    "RegexRule",
    "ToxicityRule",
]
ResourceKindName = Literal[
    "platform",
    "organization",
    "workspace",
    "project",
    "model",
    "connector",
    "available_dataset",
    "dataset",
    "role_binding",
    "role",
    "user",
    "group",
    "data_plane_association",
    "data_plane",
    "alert_rule",
    "webhook",
    "custom_aggregation",
    "custom_aggregation_test",
    "agent",
    "policy",
    "policy_alert_rule",
    "policy_attestation_rule",
    "policy_assignment",
    "dashboard",
    "discovery_source",
    "discovery_source_config",
]


# --- shared ----------------------------------------------------------------------------------
class Pagination(Schema):
    page: int = 1
    page_size: int = 20
    total_pages: int
    total_records: int


class InfinitePagination(Schema):
    page: int = 1
    page_size: int = 20


class User(Schema):
    created_at: datetime
    updated_at: datetime
    organization_id: uuid.UUID
    id: uuid.UUID
    first_name: str
    last_name: str | None
    email: str | None = None
    picture: str | None = None
    user_type: UserType
    data_plane_id: uuid.UUID | None = None
    client_id: str | None = None
    organization_name: str


class HealthStatus(Schema):
    message: str = "ok"
    build_version: str | None = None
    release_version: str | None = None


# --- tenancy ---------------------------------------------------------------------------------
class Workspace(Schema):
    created_at: datetime
    updated_at: datetime
    id: uuid.UUID
    name: str
    organization_id: uuid.UUID


class WorkspaceList(Schema):
    records: list[Workspace]
    pagination: Pagination


class Project(Schema):
    created_at: datetime
    updated_at: datetime
    id: uuid.UUID
    name: str
    description: str | None = None
    workspace_id: uuid.UUID
    total_artifacts: int
    system_project: bool


class ProjectList(Schema):
    records: list[Project]
    pagination: Pagination


class DataPlaneCapabilities(Schema):
    gen_ai_enabled: bool = False
    discovery_source_test: bool = False


class DataPlane(Schema):
    created_at: datetime
    updated_at: datetime
    id: uuid.UUID
    name: str
    workspace_id: uuid.UUID
    description: str
    user_id: uuid.UUID
    infrastructure: InfrastructureName
    last_check_in_time: datetime | None
    capabilities: DataPlaneCapabilities


# --- connectors, datasets, models ------------------------------------------------------------
class ConnectorField(Schema):
    key: str
    value: str
    d_type: Literal["string", "dict", "enum", "int"]
    is_sensitive: bool


class ConnectorSpec(Schema):
    created_at: datetime
    updated_at: datetime
    id: uuid.UUID
    connector_type: ConnectorTypeName
    name: str
    temporary: bool
    fields: list[ConnectorField]
    last_updated_by_user: User | None = None
    connector_check_result: dict[str, Any] | None = None
    project_id: uuid.UUID
    data_plane_id: uuid.UUID


class ConnectorList(Schema):
    records: list[ConnectorSpec]
    pagination: Pagination


class LocatorField(Schema):
    key: StrictStr
    value: StrictStr


class DatasetLocator(Schema):
    fields: list[LocatorField]


class PutDatasetSchema(Schema):
    alias_mask: dict[str, str] = Field(default_factory=dict)
    columns: list[dict[str, Any]] = Field(default_factory=list)


class PostDataset(Schema):
    name: StrictStr | None = None
    dataset_locator: DatasetLocator | None = None
    dataset_schema: PutDatasetSchema | None = None
    model_problem_type: ModelProblemTypeName
    is_static: StrictBool = False


class DatasetConnector(Schema):
    id: uuid.UUID
    name: str
    connector_type: ConnectorTypeName


class Dataset(Schema):
    created_at: datetime
    updated_at: datetime
    id: uuid.UUID
    name: str | None = None
    dataset_locator: DatasetLocator | None
    dataset_schema: dict[str, Any]
    data_plane_id: uuid.UUID
    connector: DatasetConnector | None = None
    project_id: uuid.UUID
    join_spec: dict[str, Any] | None = None
    model_problem_type: ModelProblemTypeName
    is_static: bool = False


class DatasetReference(Schema):
    dataset_id: uuid.UUID
    dataset_name: str
    dataset_connector_type: ConnectorTypeName | None


class ModelMetricSpec(Schema):
    id: uuid.UUID
    aggregation_specs: list[dict[str, Any]]


class Model(Schema):
    created_at: datetime
    updated_at: datetime
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    description: str | None
    onboarding_identifier: str | None = None
    last_updated_by_user: User | None = None
    metric_config: ModelMetricSpec
    schedule: dict[str, Any] | None = None
    model_problem_types: list[ModelProblemTypeName]
    datasets: list[DatasetReference]
    data_plane_id: uuid.UUID
    data_plane: DataPlane
    agent_id: uuid.UUID | None = None
    project_name: str


class ModelList(Schema):
    records: list[Model]
    pagination: Pagination


class PostModel(Schema):
    name: StrictStr
    description: StrictStr | None = None
    onboarding_identifier: Annotated[StrictStr, Field(max_length=1024)] | None = None
    metric_config: dict[str, Any] | None = None
    dataset_ids: list[uuid.UUID]


# --- tasks -----------------------------------------------------------------------------------
class NewRuleRequest(Schema):
    """Shape only; the engine's own constraints are applied by `arthur_api.rules` afterwards."""

    name: StrictStr
    type: StrictStr
    apply_to_prompt: StrictBool
    apply_to_response: StrictBool
    config: dict[str, Any] | None = None


class GCPAgentMetadata(Schema):
    project_id: StrictStr
    region: StrictStr
    resource_id: StrictStr


class AgentMetadata(Schema):
    provider: Literal["gcp", "external"]
    gcp_metadata: GCPAgentMetadata | None = None


class PostTaskRequest(Schema):
    name: Annotated[StrictStr, Field(min_length=1)]
    connector_id: uuid.UUID
    onboarding_identifier: StrictStr | None = None
    rules_to_add: list[NewRuleRequest] | None = None
    agent_metadata: AgentMetadata | None = None


class PostLinkTaskRequest(Schema):
    task_id: uuid.UUID
    connector_id: uuid.UUID
    onboarding_identifier: StrictStr | None = None


class PatchTaskRequest(Schema):
    rules_to_enable: list[uuid.UUID] | None = None
    rules_to_disable: list[uuid.UUID] | None = None
    rules_to_archive: list[uuid.UUID] | None = None
    rules_to_add: list[NewRuleRequest] | None = None


class TaskMutationResponse(Schema):
    job_id: uuid.UUID


class RuleResponse(Schema):
    id: StrictStr
    name: StrictStr
    type: RuleTypeName
    apply_to_prompt: StrictBool
    apply_to_response: StrictBool
    enabled: StrictBool | None = None
    scope: Literal["default", "task"]
    created_at: StrictInt = Field(description="unix milliseconds")
    updated_at: StrictInt = Field(description="unix milliseconds")
    config: dict[str, Any] | None = None


class TaskResponse(Schema):
    id: StrictStr
    name: StrictStr
    created_at: StrictInt = Field(description="unix milliseconds")
    updated_at: StrictInt = Field(description="unix milliseconds")
    is_agentic: StrictBool | None = None
    is_system_task: StrictBool | None = None
    is_autocreated: StrictBool | None = None
    is_archived: StrictBool | None = None
    agent_metadata: dict[str, Any] | None = None
    rules: list[RuleResponse]
    metrics: list[dict[str, Any]] | None = None


class PutTaskStateCacheRequest(Schema):
    task: TaskResponse
    evals: list[dict[str, Any]] | None = None
    continuous_evals: list[dict[str, Any]] | None = None
    transforms: list[dict[str, Any]] | None = None


class TaskReadResponse(Schema):
    task: dict[str, Any] | None = None
    last_synced_at: datetime | None = None
    scope_model_id: uuid.UUID
    evals: list[dict[str, Any]] | None = None
    continuous_evals: list[dict[str, Any]] | None = None
    transforms: list[dict[str, Any]] | None = None


class ValidationKeyIn(Schema):
    id: StrictStr
    name: StrictStr
    key: StrictStr


class PutTaskConnectionInfo(Schema):
    validation_key: ValidationKeyIn
    api_host: StrictStr


class TaskConnectionInfo(Schema):
    created_at: datetime
    updated_at: datetime
    validation_key: ValidationKeyIn
    api_host: str


# --- jobs ------------------------------------------------------------------------------------
class Job(Schema):
    id: uuid.UUID
    kind: JobKindName
    job_spec: dict[str, Any] = Field(description="Always carries job_type.")
    state: JobStateName
    project_id: uuid.UUID
    data_plane_id: uuid.UUID | None = None
    queued_at: datetime
    ready_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_sec: int | None = None
    error_count: int | None = None
    trigger_type: JobTriggerName
    triggered_by_user: User | None = None
    schedule_id: uuid.UUID | None = None
    attempts: int
    max_attempts: int
    nonce: str | None = None
    memory_requirements_mb: int
    job_priority: Literal[100, 200, 300, 400]


class JobList(Schema):
    records: list[Job]
    pagination: InfinitePagination


class JobRun(Schema):
    id: uuid.UUID
    job_id: uuid.UUID
    state: JobStateName
    job_attempt: int
    start_timestamp: datetime
    end_timestamp: datetime | None = None


class JobRunList(Schema):
    records: list[JobRun]
    pagination: Pagination


class JobLog(Schema):
    log_level: JobLogLevelName
    log: StrictStr
    log_timestamp: datetime


class JobLogList(Schema):
    records: list[JobLog]
    pagination: Pagination


class JobLogs(Schema):
    logs: list[JobLog]


class JobErrorItem(Schema):
    error: StrictStr


class JobErrorList(Schema):
    records: list[JobErrorItem]
    pagination: Pagination


class JobErrors(Schema):
    errors: list[JobErrorItem]


class PutJobState(Schema):
    job_state: JobStateName


# Integers stored in or compared with 32-bit integer columns: a larger value would fail in the
# database (a 500) instead of in validation (a 422).
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]


class PatchJob(Schema):
    max_attempts: Annotated[int, Field(ge=1, le=INT32_MAX)] | None


class JobDequeueParameters(Schema):
    memory_limit_mb: Annotated[StrictInt, Field(ge=INT32_MIN, le=INT32_MAX)]
    discovery_source_test: StrictBool | None = None


# --- permissions -----------------------------------------------------------------------------
class PermissionRequestItem(Schema):
    resource_kind: ResourceKindName
    resource_id: StrictStr
    permission_name: StrictStr


class PermissionsRequest(Schema):
    permissions: Annotated[list[PermissionRequestItem], Field(min_length=1, max_length=100)]


class PermissionResponseItem(PermissionRequestItem):
    allowed: bool


class PermissionsResponse(Schema):
    permissions: list[PermissionResponseItem]
