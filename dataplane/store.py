"""The engine store's operations: the local equivalent of the GenAI engine's task, rule and key API.

Each public method is one engine call (create task, add rule, enable, archive, create key…) and is
atomic on its own. The agent's job executors group a job's engine writes in one transaction together
with the job's `AppliedJob` marker (``start_job`` … ``save_job_progress``), so a job's writes are
committed once whichever attempt of the job runs them; what must be undone after that commit (a
later control-plane call failed) is undone by ``revert_job``. No database transaction is held open
across calls to the control plane.

Failures raise `EngineRejected` (the engine's 400, with its message) or `EngineNotFound` (404).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from arthur_api import rules as rule_specs
from dataplane.models import AppliedJob, EngineApiKey, EngineRule, EngineTask, TaskRuleLink

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

    def task_rule_enabled(self, task_id: uuid.UUID | str, rule_id: uuid.UUID | str) -> bool | None:
        """The per-task flag of a live rule linked to the task; None when there is no such link."""
        try:
            rule_uuid = uuid.UUID(str(rule_id))
        except ValueError:
            return None
        link = TaskRuleLink.objects.filter(
            task_id=_as_uuid(task_id, "Task"), rule_id=rule_uuid, rule__is_archived=False
        ).first()
        return None if link is None else link.enabled

    @transaction.atomic
    def restore_task_rule(self, rule_id: uuid.UUID | str) -> None:
        """Take a task-scope rule out of the archive again (the undo of `archive_task_rule`)."""
        EngineRule.objects.filter(id=rule_id, scope=EngineRule.Scope.TASK).update(
            is_archived=False, updated_at=timezone.now()
        )

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

    def validation_key(self, key_id: uuid.UUID | str, secret: str) -> NewApiKey:
        """A key created earlier, given back with its secret (kept sealed by an unfinished job)."""
        record = EngineApiKey.objects.get(id=_as_uuid(key_id, "API key"))
        return NewApiKey(id=str(record.id), description=record.description, key=secret)

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

    # --- job markers -------------------------------------------------------------------------

    def applied_job(self, job_id: uuid.UUID | str) -> AppliedJob | None:
        """The marker of a job whose engine writes are committed, or None."""
        return AppliedJob.objects.filter(job_id=job_id).first()

    def start_job(self, job_id: uuid.UUID | str, kind: str) -> AppliedJob:
        """Write the job's marker; call it first inside the transaction of the job's engine writes.

        Raises `IntegrityError` when the job already has one (another attempt committed first; on
        PostgreSQL a concurrent attempt's insert waits for that attempt's commit or rollback).
        """
        return AppliedJob.objects.create(job_id=job_id, kind=kind)

    def save_job_progress(
        self, job_id: uuid.UUID | str, kind: str, progress: dict[str, Any], *, sealed_key: str | None = None
    ) -> AppliedJob:
        """Merge ``progress`` into the job's marker (created if missing); ``sealed_key`` replaces the
        sealed secret when given ("" clears it)."""
        with transaction.atomic():
            marker, _ = AppliedJob.objects.select_for_update().get_or_create(job_id=job_id, defaults={"kind": kind})
            marker.progress = {**marker.progress, **progress}
            if sealed_key is not None:
                marker.sealed_key = sealed_key
            marker.updated_at = timezone.now()
            marker.save(update_fields=["progress", "sealed_key", "updated_at"])
            return marker

    def forget_job(self, job_id: uuid.UUID | str) -> None:
        """Drop the job's marker: the job is over (reported) or its writes were undone."""
        AppliedJob.objects.filter(job_id=job_id).delete()

    @transaction.atomic
    def revert_job(self, job_id: uuid.UUID | str) -> None:
        """Undo the engine writes recorded in the job's marker and drop the marker, in one transaction.

        Undoes what ``progress["undo"]`` lists (rules added, enabled flags changed, rules archived, the
        task created), deactivates ``progress["key_id"]``; a missing marker is a no-op.
        """
        marker = AppliedJob.objects.select_for_update().filter(job_id=job_id).first()
        if marker is None:
            return
        undo = marker.progress.get("undo") or {}
        for rule_id in undo.get("archived") or []:
            self.restore_task_rule(rule_id)
        task_id = marker.progress.get("task_id")
        for rule_id, enabled in (undo.get("enabled") or {}).items():
            self.set_rule_enabled(task_id, rule_id, enabled)
        for rule_id in undo.get("added") or []:
            self.delete_task_rule(rule_id)
        key_id = marker.progress.get("key_id")
        if key_id and EngineApiKey.objects.filter(id=key_id).exists():
            self.deactivate_key(key_id)
        if undo.get("task_created") and task_id and EngineTask.objects.filter(id=task_id).exists():
            self.archive_task(task_id)
        marker.delete()


def seal_secret(secret: str) -> str:
    """A key's secret encrypted for a job marker (Fernet, keyed as controlplane/crypto.py keys it,
    from LOCAL_ARTHUR_ENCRYPTION_KEY, but with the data plane's own derivation)."""
    return _marker_fernet(settings.LOCAL_ARTHUR_ENCRYPTION_KEY).encrypt(secret.encode()).decode()


def unseal_secret(token: str) -> str:
    """The secret behind `seal_secret`'s token; raises `EngineRejected` when it cannot be read."""
    try:
        return _marker_fernet(settings.LOCAL_ARTHUR_ENCRYPTION_KEY).decrypt(token.encode()).decode()
    except InvalidToken:
        raise EngineRejected("The unfinished job's sealed key cannot be decrypted") from None


def _marker_fernet(setting: str) -> Fernet:
    digest = hashlib.sha256(f"dataplane-job-marker:{setting}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


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
