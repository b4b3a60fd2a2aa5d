"""Wire payloads in the platform's shapes, shared by the arthur_api tests (validated against arthur-client)."""

from __future__ import annotations

from typing import Any

NOW = "2026-12-03T12:00:00Z"
ORG = "7b1f6c3e-0000-4000-8000-000000000001"
WS = "7b1f6c3e-0000-4000-8000-000000000002"
PROJECT = "7b1f6c3e-0000-4000-8000-000000000003"
MODEL = "7b1f6c3e-0000-4000-8000-000000000004"
DATA_PLANE = "7b1f6c3e-0000-4000-8000-000000000005"
JOB = "7b1f6c3e-0000-4000-8000-000000000006"
RUN = "7b1f6c3e-0000-4000-8000-000000000007"
CONNECTOR = "7b1f6c3e-0000-4000-8000-000000000008"
TASK = "7b1f6c3e-0000-4000-8000-000000000009"


def user(**overrides: Any) -> dict[str, Any]:
    return {
        "created_at": NOW,
        "updated_at": NOW,
        "organization_id": ORG,
        "id": "7b1f6c3e-0000-4000-8000-0000000000aa",
        "first_name": "Eddie",
        "last_name": "Editor",
        "email": "editor@example.com",
        "user_type": "user",
        "organization_name": "Demo Org",
        **overrides,
    }


def workspace() -> dict[str, Any]:
    return {"created_at": NOW, "updated_at": NOW, "id": WS, "name": "Demo", "organization_id": ORG}


def project() -> dict[str, Any]:
    return {
        "created_at": NOW,
        "updated_at": NOW,
        "id": PROJECT,
        "name": "Support bot",
        "description": None,
        "workspace_id": WS,
        "total_artifacts": 1,
        "system_project": False,
    }


def data_plane() -> dict[str, Any]:
    return {
        "created_at": NOW,
        "updated_at": NOW,
        "id": DATA_PLANE,
        "name": "Local engine",
        "workspace_id": WS,
        "description": "",
        "user_id": "7b1f6c3e-0000-4000-8000-0000000000bb",
        "infrastructure": "Docker",
        "last_check_in_time": None,
        "capabilities": {"gen_ai_enabled": True},
    }


def model() -> dict[str, Any]:
    return {
        "created_at": NOW,
        "updated_at": NOW,
        "id": MODEL,
        "project_id": PROJECT,
        "name": "support-bot",
        "description": None,
        "onboarding_identifier": "support-bot",
        "metric_config": {"id": "7b1f6c3e-0000-4000-8000-0000000000cc", "aggregation_specs": []},
        "model_problem_types": ["arthur_shield"],
        "datasets": [
            {
                "dataset_id": "7b1f6c3e-0000-4000-8000-0000000000dd",
                "dataset_name": "support-bot",
                "dataset_connector_type": "engine_internal",
            }
        ],
        "data_plane_id": DATA_PLANE,
        "data_plane": data_plane(),
        "project_name": "Support bot",
    }


def connector() -> dict[str, Any]:
    return {
        "created_at": NOW,
        "updated_at": NOW,
        "id": CONNECTOR,
        "connector_type": "engine_internal",
        "name": "Engine",
        "temporary": False,
        "fields": [{"key": "endpoint", "value": "http://engine", "d_type": "string", "is_sensitive": False}],
        "project_id": PROJECT,
        "data_plane_id": DATA_PLANE,
    }


def rules() -> list[dict[str, Any]]:
    base = {"apply_to_prompt": True, "apply_to_response": True, "enabled": True, "scope": "task",
            "created_at": 1749556801000, "updated_at": 1749556801000}
    return [
        {**base, "id": "r1", "name": "Blocked", "type": "KeywordRule", "config": {"keywords": ["secret"]}},
        {**base, "id": "r2", "name": "SSN", "type": "RegexRule", "config": {"regex_patterns": [r"\d{3}-\d{2}-\d{4}"]}},
        {**base, "id": "r3", "name": "PII", "type": "PIIDataRule",
         "config": {"disabled_pii_entities": ["URL"], "confidence_threshold": 0.0, "allow_list": ["arthur.ai"]}},
        {**base, "id": "r4", "name": "Toxic", "type": "ToxicityRule", "config": {"threshold": 0.7}},
        {**base, "id": "r5", "name": "Sensitive", "type": "ModelSensitiveDataRule", "apply_to_response": False,
         "config": {"examples": [{"example": "John is O negative", "result": True}], "hint": "blood types"}},
        {**base, "id": "r6", "name": "Injection", "type": "PromptInjectionRule", "apply_to_response": False,
         "scope": "default", "config": None},
    ]


def task_state() -> dict[str, Any]:
    return {
        "task": {
            "id": TASK,
            "name": "support-bot",
            "created_at": 1749556800000,
            "updated_at": 1749556860000,
            "is_agentic": False,
            "is_archived": False,
            "rules": rules(),
            "metrics": [],
        },
        "last_synced_at": "2026-12-03T12:01:05.123456Z",
        "scope_model_id": MODEL,
        "evals": [],
        "continuous_evals": [],
        "transforms": [],
    }


def job(state: str = "queued") -> dict[str, Any]:
    return {
        "id": JOB,
        "kind": "update_model_task_rules",
        "job_spec": {"job_type": "update_model_task_rules", "scope_model_id": MODEL, "rules_to_enable": [],
                     "rules_to_disable": ["r1"], "rules_to_archive": [], "rules_to_add": []},
        "state": state,
        "project_id": PROJECT,
        "data_plane_id": DATA_PLANE,
        "queued_at": NOW,
        "ready_at": NOW,
        "trigger_type": "user",
        "attempts": 0,
        "max_attempts": 1,
        "memory_requirements_mb": 50,
        "job_priority": 100,
    }


def job_run() -> dict[str, Any]:
    return {"id": RUN, "job_id": JOB, "state": "running", "job_attempt": 1, "start_timestamp": NOW}


def connection_info() -> dict[str, Any]:
    return {
        "created_at": NOW,
        "updated_at": NOW,
        "api_host": "http://engine",
        "validation_key": {"id": "k1", "name": f"Task Validation Key - {TASK}", "key": "very-secret-key"},
    }


def page(records: list[dict[str, Any]], *, infinite: bool = False, page_size: int = 20) -> dict[str, Any]:
    pagination: dict[str, Any] = {"page": 1, "page_size": page_size}
    if not infinite:
        pagination |= {"total_pages": 1, "total_records": len(records)}
    return {"records": records, "pagination": pagination}
