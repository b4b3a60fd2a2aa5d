"""Typed records for what the Arthur API returns (shapes of the official client 1.4.2919).

Records are pydantic models that ignore unknown keys, so a newer platform adding fields does not
break the dashboard. Enumerations are kept as plain strings: the platform adds values over time and
a page should show an unknown kind rather than fail. Rule ``config`` stays raw JSON keyed by the
rule ``type`` (the official client's anyOf parsing misreads it); ``Rule.typed_config`` reads it by
type.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- identity and navigation -------------------------------------------------------------------


class User(Record):
    id: str
    organization_id: str
    organization_name: str
    first_name: str
    last_name: str | None = None
    email: str | None = None
    picture: str | None = None
    user_type: str
    data_plane_id: str | None = None
    client_id: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or (self.email or self.id)


class Workspace(Record):
    id: str
    name: str
    organization_id: str
    created_at: datetime
    updated_at: datetime


class Project(Record):
    id: str
    name: str
    description: str | None = None
    workspace_id: str
    total_artifacts: int = 0
    system_project: bool = False
    created_at: datetime
    updated_at: datetime


class DataPlane(Record):
    id: str
    name: str
    workspace_id: str
    description: str = ""
    user_id: str | None = None
    infrastructure: str | None = None
    last_check_in_time: datetime | None = None
    capabilities: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class DatasetReference(Record):
    dataset_id: str
    dataset_name: str
    dataset_connector_type: str | None = None


class Model(Record):
    id: str
    project_id: str
    project_name: str = ""
    name: str
    description: str | None = None
    onboarding_identifier: str | None = None
    last_updated_by_user: User | None = None
    metric_config: dict[str, Any] = Field(default_factory=dict)
    schedule: dict[str, Any] | None = None
    model_problem_types: list[str] = Field(default_factory=list)
    datasets: list[DatasetReference] = Field(default_factory=list)
    data_plane_id: str
    data_plane: DataPlane | None = None
    agent_id: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def is_task_model(self) -> bool:
        """A task model has exactly one dataset on a shield or engine_internal connector (ml-engine's rule)."""
        return len(self.datasets) == 1 and self.datasets[0].dataset_connector_type in {
            "shield",
            "engine_internal",
        }


class ConnectorField(Record):
    key: str
    value: str
    d_type: str = "string"
    is_sensitive: bool = False


class ConnectorSpec(Record):
    id: str
    connector_type: str
    name: str
    temporary: bool = False
    fields: list[ConnectorField] = Field(default_factory=list)
    last_updated_by_user: User | None = None
    connector_check_result: dict[str, Any] | None = None
    project_id: str
    data_plane_id: str
    created_at: datetime
    updated_at: datetime

    def field_value(self, key: str) -> str | None:
        """The value of the connector field ``key``, or None when the connector has no such field."""
        return next((field.value for field in self.fields if field.key == key), None)


class Dataset(Record):
    id: str
    name: str | None = None
    dataset_locator: dict[str, Any] | None = None
    dataset_schema: dict[str, Any] = Field(default_factory=dict)
    data_plane_id: str
    connector: dict[str, Any] | None = None
    project_id: str
    model_problem_type: str
    is_static: bool | None = False
    created_at: datetime
    updated_at: datetime

    def locator_value(self, key: str) -> str | None:
        """A locator field's value (``task_id`` for task datasets), or None."""
        fields = (self.dataset_locator or {}).get("fields") or []
        return next((item.get("value") for item in fields if item.get("key") == key), None)


# --- tasks and rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KeywordsConfig:
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class RegexConfig:
    regex_patterns: tuple[str, ...]


@dataclass(frozen=True)
class Example:
    example: str
    result: bool


@dataclass(frozen=True)
class ExamplesConfig:
    examples: tuple[Example, ...]
    hint: str | None = None


@dataclass(frozen=True)
class ToxicityConfig:
    threshold: float = 0.5


@dataclass(frozen=True)
class PIIConfig:
    disabled_pii_entities: tuple[str, ...] = ()
    confidence_threshold: float | None = None
    allow_list: tuple[str, ...] = ()


RuleConfig = KeywordsConfig | RegexConfig | ExamplesConfig | ToxicityConfig | PIIConfig


def _rule_config(rule_type: str, raw: dict[str, Any] | None) -> RuleConfig | None:
    raw = raw or {}
    match rule_type:
        case "KeywordRule":
            return KeywordsConfig(keywords=tuple(raw.get("keywords") or ()))
        case "RegexRule":
            return RegexConfig(regex_patterns=tuple(raw.get("regex_patterns") or ()))
        case "ModelSensitiveDataRule":
            examples = tuple(
                Example(example=item["example"], result=bool(item["result"])) for item in raw.get("examples") or ()
            )
            return ExamplesConfig(examples=examples, hint=raw.get("hint"))
        case "ToxicityRule":
            threshold = raw.get("threshold")
            return ToxicityConfig(threshold=0.5 if threshold is None else float(threshold))
        case "PIIDataRule":
            threshold = raw.get("confidence_threshold")
            return PIIConfig(
                disabled_pii_entities=tuple(raw.get("disabled_pii_entities") or ()),
                confidence_threshold=None if threshold is None else float(threshold),
                allow_list=tuple(raw.get("allow_list") or ()),
            )
        case _:
            # PromptInjectionRule and ModelHallucinationRuleV2 carry no config; unknown types neither.
            return None


class Rule(Record):
    id: str
    name: str
    type: str
    apply_to_prompt: bool
    apply_to_response: bool
    enabled: bool | None = None
    scope: str
    created_at: int  # unix milliseconds, as the engine sends them
    updated_at: int
    config: dict[str, Any] | None = None

    @property
    def typed_config(self) -> RuleConfig | None:
        """The config read according to the rule's ``type`` (None for types without a config)."""
        return _rule_config(self.type, self.config)


class Task(Record):
    id: str
    name: str
    created_at: int  # unix milliseconds
    updated_at: int
    is_agentic: bool | None = None
    is_system_task: bool | None = None
    is_autocreated: bool | None = None
    is_archived: bool | None = None
    agent_metadata: dict[str, Any] | None = None
    rules: list[Rule] = Field(default_factory=list)
    metrics: list[dict[str, Any]] | None = None


class TaskState(Record):
    """The control plane's cached copy of a task (``task`` is None until the first upload)."""

    scope_model_id: str
    task: Task | None = None
    last_synced_at: datetime | None = None
    evals: list[dict[str, Any]] | None = None
    continuous_evals: list[dict[str, Any]] | None = None
    transforms: list[dict[str, Any]] | None = None


class TaskMutation(Record):
    """What every task-changing call returns: the id of the job that will do the change."""

    job_id: str


class ValidationKey(Record):
    id: str
    name: str
    key: SecretStr  # masked when printed or logged; reveal with .get_secret_value()


class ConnectionInfo(Record):
    api_host: str
    validation_key: ValidationKey
    created_at: datetime
    updated_at: datetime


# --- jobs --------------------------------------------------------------------------------------

TERMINAL_JOB_STATES = frozenset({"completed", "failed", "cancelled"})


class Job(Record):
    id: str
    kind: str
    job_spec: dict[str, Any]
    state: str
    project_id: str
    data_plane_id: str | None = None
    queued_at: datetime
    ready_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_sec: int | None = None
    error_count: int | None = None
    trigger_type: str = "user"
    triggered_by_user: User | None = None
    schedule_id: str | None = None
    attempts: int = 0
    max_attempts: int = 1
    nonce: str | None = None
    memory_requirements_mb: int = 0
    job_priority: int = 100

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_JOB_STATES


class JobRun(Record):
    id: str
    job_id: str
    state: str
    job_attempt: int
    start_timestamp: datetime
    end_timestamp: datetime | None = None


class JobLog(Record):
    log_level: str
    log: str
    log_timestamp: datetime


class JobError(Record):
    error: str


# --- permissions and pages ---------------------------------------------------------------------


class PermissionCheck(Record):
    resource_kind: str
    resource_id: str
    permission_name: str


class PermissionResult(PermissionCheck):
    allowed: bool


@dataclass(frozen=True)
class Page[T]:
    """One page of a list endpoint. Job lists have no totals (``total_pages``/``total_records`` None)."""

    records: list[T]
    page: int
    page_size: int
    total_pages: int | None = None
    total_records: int | None = None

    @property
    def has_next(self) -> bool:
        if self.total_pages is not None:
            return self.page < self.total_pages
        # Infinite pagination: a full page suggests there may be more.
        return len(self.records) == self.page_size
