"""The engine store's operations: the local equivalent of the GenAI engine's task, rule and key API.

Each public method is one engine call (create task, add rule, enable, archive, create key…) and is
atomic on its own. Callers that need several calls to succeed together (the agent's job executors)
undo what they did step by step, as the real ml-engine does against a remote engine; no database
transaction is held open across calls to the control plane.

Failures raise `EngineRejected` (the engine's 400, with its message) or `EngineNotFound` (404).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from arthur_api import rules as rule_specs
from dataplane.models import EngineApiKey, EngineRule, EngineTask, TaskRuleLink

MSG_BLANK_TASK_NAME = "Task names cannot contain only white space characters"
VALIDATION_USER = EngineApiKey.Role.VALIDATION_USER.value


class EngineError(Exception):
    """A refusal by the engine; ``str(error)`` is the engine's message."""


class EngineRejected(EngineError):
    """The engine's 400: the request breaks one of its rules."""


class EngineNotFound(EngineError):
    """The engine's 404: no such task, rule or key."""


@dataclass(frozen=True)
class NewApiKey:
    """A freshly created API key: the only moment its secret is known."""

    id: str
    description: str
    key: str


def unix_ms(moment: datetime) -> int:
    """A datetime as the engine's wire timestamps: integer unix milliseconds."""
    return int(moment.timestamp() * 1000)


def key_digest(key: str) -> str:
    """How an API key is stored and looked up: its SHA-256 hex digest."""
    return hashlib.sha256(key.encode()).hexdigest()


def validation_key_name(task_id: uuid.UUID | str) -> str:
    """The description the ml-engine gives a task's validation key."""
    return f"Task Validation Key - {task_id}"


class EngineStore:
    """The engine as the agent and the validate endpoints see it; ``api_host`` is its public address."""

    def __init__(self, *, api_host: str) -> None:
        self.api_host = api_host.rstrip("/")

    # --- tasks -------------------------------------------------------------------------------

    @transaction.atomic
    def create_task(self, name: str, *, agent_metadata: dict[str, Any] | None = None) -> EngineTask:
        """Create a task and link every active default rule to it (enabled), as the engine does.

        Raises `EngineRejected` for an empty or whitespace-only name.
        """
        if not isinstance(name, str) or not name.strip():
            raise EngineRejected(MSG_BLANK_TASK_NAME)
        task = EngineTask.objects.create(name=name, agent_metadata=agent_metadata)
        defaults = EngineRule.objects.filter(scope=EngineRule.Scope.DEFAULT, is_archived=False)
        TaskRuleLink.objects.bulk_create([TaskRuleLink(task=task, rule=rule, enabled=True) for rule in defaults])
        return task

    def get_task(self, task_id: uuid.UUID | str) -> EngineTask:
        """The task (archived or not). Raises `EngineNotFound` when there is no such task."""
        try:
            return EngineTask.objects.get(id=_as_uuid(task_id, "Task"))
        except EngineTask.DoesNotExist:
            raise EngineNotFound(f"Task {task_id} not found") from None

    @transaction.atomic
    def archive_task(self, task_id: uuid.UUID | str) -> None:
        """Archive the task and its task-scope rules. Raises `EngineNotFound` for an unknown task."""
        task = self.get_task(task_id)
        now = timezone.now()
        EngineTask.objects.filter(id=task.id).update(is_archived=True, updated_at=now)
        EngineRule.objects.filter(task=task).update(is_archived=True, updated_at=now)

    def task_response(self, task_id: uuid.UUID | str) -> dict[str, Any]:
        """The engine's ``TaskResponse`` JSON: linked, non-archived rules with the per-task flag.

        Raises `EngineNotFound` for an unknown task.
        """
        task = self.get_task(task_id)
        links = (
            TaskRuleLink.objects.filter(task=task, rule__is_archived=False)
            .select_related("rule")
            .order_by("rule__created_at", "rule__id")
        )
        return {
            "id": str(task.id),
            "name": task.name,
            "created_at": unix_ms(task.created_at),
            "updated_at": unix_ms(task.updated_at),
            "is_agentic": task.is_agentic,
            "is_system_task": False,
            "is_autocreated": False,
            "is_archived": task.is_archived,
            "agent_metadata": task.agent_metadata,
            "rules": [rule_response(link.rule, enabled=link.enabled) for link in links],
            "metrics": [],
        }

    # --- rules -------------------------------------------------------------------------------

    @transaction.atomic
    def add_task_rule(self, task_id: uuid.UUID | str, new_rule: dict[str, Any]) -> EngineRule:
        """Create a task-scope rule on the task, enabled. Raises `EngineRejected` with the engine's
        message when the rule breaks a constraint, `EngineNotFound` for an unknown task."""
        task = self.get_task(task_id)
        clean = _clean_rule(new_rule)
        rule = EngineRule.objects.create(scope=EngineRule.Scope.TASK, task=task, **clean)
        TaskRuleLink.objects.create(task=task, rule=rule, enabled=True)
        _touch(task)
        return rule

    @transaction.atomic
    def add_default_rule(self, new_rule: dict[str, Any]) -> EngineRule:
        """Create a default (global) rule; only tasks created afterwards get it, as in the engine.

        Raises `EngineRejected` with the engine's message for an invalid rule.
        """
        return EngineRule.objects.create(scope=EngineRule.Scope.DEFAULT, **_clean_rule(new_rule))

    @transaction.atomic
    def set_rule_enabled(self, task_id: uuid.UUID | str, rule_id: uuid.UUID | str, enabled: bool) -> bool:
        """Enable or disable a rule for one task (default rules included).

        Returns False, changing nothing, when the rule is not linked to the task: the engine's
        PATCH never fails for an unknown rule id. Raises `EngineNotFound` for an unknown task.
        """
        task = self.get_task(task_id)
        try:
            rule_uuid = uuid.UUID(str(rule_id))
        except ValueError:
            return False
        updated = TaskRuleLink.objects.filter(task=task, rule_id=rule_uuid, rule__is_archived=False).update(
            enabled=enabled
        )
        if updated:
            _touch(task)
        return bool(updated)

    @transaction.atomic
    def archive_task_rule(self, task_id: uuid.UUID | str, rule_id: uuid.UUID | str) -> None:
        """Archive a task-scope rule of this task.

        Raises `EngineRejected` for a default rule ("Default rules cannot be deleted…") or a rule
        that does not belong to the task, `EngineNotFound` for an unknown task.
        """
        task = self.get_task(task_id)
        try:
            rule = EngineRule.objects.get(id=uuid.UUID(str(rule_id)), task_links__task=task, is_archived=False)
        except (ValueError, EngineRule.DoesNotExist):
            raise EngineRejected(rule_specs.MSG_UNRELATED_RULE) from None
        if rule.scope == EngineRule.Scope.DEFAULT:
            raise EngineRejected(rule_specs.MSG_DEFAULT_RULE_ARCHIVE)
        EngineRule.objects.filter(id=rule.id).update(is_archived=True, updated_at=timezone.now())
        _touch(task)

    @transaction.atomic
    def delete_task_rule(self, rule_id: uuid.UUID | str) -> None:
        """Remove a task-scope rule entirely (the undo of `add_task_rule`); a no-op when it is gone."""
        EngineRule.objects.filter(id=rule_id, scope=EngineRule.Scope.TASK).delete()

    # --- API keys ----------------------------------------------------------------------------

    def create_validation_key(self, task_id: uuid.UUID | str) -> NewApiKey:
        """A new VALIDATION-USER key for the task; its secret is returned once and stored hashed.

        Raises `EngineNotFound` for an unknown task.
        """
        task = self.get_task(task_id)
        key = secrets.token_urlsafe(32)
        record = EngineApiKey.objects.create(
            description=validation_key_name(task.id), roles=[VALIDATION_USER], key_digest=key_digest(key), task=task
        )
        return NewApiKey(id=str(record.id), description=record.description, key=key)

    def deactivate_key(self, key_id: uuid.UUID | str) -> None:
        """Deactivate an API key (again is fine). Raises `EngineNotFound` for an unknown key."""
        try:
            key_uuid = uuid.UUID(str(key_id))
        except ValueError:
            raise EngineNotFound(f"API key {key_id} not found") from None
        found = EngineApiKey.objects.filter(id=key_uuid).exists()
        if not found:
            raise EngineNotFound(f"API key {key_id} not found")
        EngineApiKey.objects.filter(id=key_uuid, is_active=True).update(is_active=False, deactivated_at=timezone.now())

    def authenticate_validation_key(self, task_id: uuid.UUID | str, key: str) -> EngineApiKey | None:
        """The active key allowed to validate this task, or None (unknown, inactive, other task)."""
        if not key:
            return None
        record = EngineApiKey.objects.filter(key_digest=key_digest(key), is_active=True).first()
        if record is None or VALIDATION_USER not in record.roles:
            return None
        if record.task_id is not None and str(record.task_id) != str(task_id):
            return None
        return record


def rule_response(rule: EngineRule, *, enabled: bool | None) -> dict[str, Any]:
    """The engine's ``RuleResponse`` JSON for a rule (``enabled`` is the per-task flag, if any)."""
    return {
        "id": str(rule.id),
        "name": rule.name,
        "type": rule.type,
        "apply_to_prompt": rule.apply_to_prompt,
        "apply_to_response": rule.apply_to_response,
        "enabled": enabled,
        "scope": rule.scope,
        "created_at": unix_ms(rule.created_at),
        "updated_at": unix_ms(rule.updated_at),
        "config": rule.config,
    }


def _clean_rule(new_rule: dict[str, Any]) -> dict[str, Any]:
    try:
        return rule_specs.clean_new_rule(new_rule)
    except rule_specs.RuleRejected as error:
        raise EngineRejected(str(error)) from None


def _touch(task: EngineTask) -> None:
    EngineTask.objects.filter(id=task.id).update(updated_at=timezone.now())


def _as_uuid(value: uuid.UUID | str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise EngineNotFound(f"{what} {value} not found") from None
