"""The job ledger: who submitted which job through this dashboard, when, and how it ended.

Arthur keeps the jobs themselves; the ledger is the dashboard's own audit trail ("My jobs"). Rows are
written by ``tasks_ui.services.ledger_record`` when a job is submitted and their outcome is brought up
to date by ``ledger_update_outcome`` whenever the dashboard sees the job's state.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from arthur_api.records import TERMINAL_JOB_STATES


class LedgerEntry(models.Model):
    class Outcome(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    # PROTECT: an audit trail outlives nobody's account silently.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ledger_entries")
    job_id = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=64)
    project_id = models.CharField(max_length=64)
    model_id = models.CharField(max_length=64, blank=True, default="")
    # What was asked, in plain words, as the person saw it when submitting.
    summary = models.CharField(max_length=500, blank=True, default="")
    # The submit form's one-time key (issue 8): a resubmitted form finds the first job.
    idempotency_key = models.CharField(max_length=64, blank=True, null=True)
    submitted_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.QUEUED)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        indexes = [models.Index(fields=["user", "-submitted_at"], name="ledger_user_recent")]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="ledger_one_job_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.job_id} by {self.user_id}: {self.outcome}"

    @property
    def is_terminal(self) -> bool:
        return self.outcome in TERMINAL_JOB_STATES
