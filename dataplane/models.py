"""Local Arthur's engine store: what a GenAI engine keeps about tasks, rules and validation keys.

Shaped like the engine's own data: a rule is either ``default`` scope (global, linked to every task
created after it) or ``task`` scope (owned by one task); the per-task ``enabled`` flag lives on the
link, so a default rule can be disabled for one task only. Nothing is deleted by the engine's API:
tasks, rules and keys are archived or deactivated. API keys are stored as SHA-256 digests (they are
long random secrets, so a slow password hash would buy nothing) and shown only once, at creation.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class EngineTask(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=300)
    is_archived = models.BooleanField(default=False)
    is_agentic = models.BooleanField(default=False)
    agent_metadata = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name


class EngineRule(models.Model):
    class Scope(models.TextChoices):
        DEFAULT = "default"
        TASK = "task"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=300)
    type = models.CharField(max_length=40)
    apply_to_prompt = models.BooleanField()
    apply_to_response = models.BooleanField()
    scope = models.CharField(max_length=10, choices=Scope)
    # The engine's canonical config for `type` (arthur_api.rules.canonical_config); null when configless.
    config = models.JSONField(null=True, blank=True)
    # The owning task of a task-scope rule; null for default rules.
    task = models.ForeignKey(EngineTask, null=True, blank=True, on_delete=models.CASCADE, related_name="own_rules")
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(scope="default", task__isnull=True) | models.Q(scope="task", task__isnull=False)),
                name="engine_rule_scope_matches_owner",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"


class TaskRuleLink(models.Model):
    """A rule applied to a task, with the per-task enabled flag."""

    task = models.ForeignKey(EngineTask, on_delete=models.CASCADE, related_name="rule_links")
    rule = models.ForeignKey(EngineRule, on_delete=models.CASCADE, related_name="task_links")
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "rule"], name="task_rule_link_unique")]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.task_id} ({'enabled' if self.enabled else 'disabled'})"


class EngineApiKey(models.Model):
    class Role(models.TextChoices):
        VALIDATION_USER = "VALIDATION-USER"
        TASK_ADMIN = "TASK-ADMIN"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    description = models.CharField(max_length=300, blank=True, default="")
    roles = models.JSONField(default=list)
    key_digest = models.CharField(max_length=64, unique=True)
    # A validation key made for one task (its description names it) validates only that task.
    task = models.ForeignKey(EngineTask, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.description or str(self.id)


class AppliedJob(models.Model):
    """A control-plane job whose engine writes are committed: "job <job_id> applied".

    The agent writes it in the same transaction as the job's first engine writes, so a later attempt
    of the same job (its agent was killed before the job's result reached the control plane) finds
    it and finishes the job instead of applying it again. ``progress`` holds what that attempt needs,
    as ids only (task, dataset, model, key, and how to undo the writes); a new validation key's
    secret is kept only Fernet-encrypted (``sealed_key``) and only until the control plane holds it.
    """

    job_id = models.UUIDField(primary_key=True, editable=False)
    kind = models.CharField(max_length=60)
    progress = models.JSONField(default=dict)
    sealed_key = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "job_id"]

    def __str__(self) -> str:
        return f"job {self.job_id} applied ({self.kind})"
