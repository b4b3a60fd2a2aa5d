"""Pure pieces: rule config summaries, job specs in words, times, the ledger's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from pydantic import SecretStr

from arthur_api.records import Job, Rule
from tasks_ui.templatetags.tasks_ui_tags import (
    ago,
    duration,
    from_ms,
    is_stale,
    masked,
    rule_rows,
    rule_summary,
    spec_words,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def rule(rule_type: str, config: dict | None) -> Rule:
    return Rule(
        id="r1",
        name="r",
        type=rule_type,
        apply_to_prompt=True,
        apply_to_response=False,
        enabled=True,
        scope="task",
        created_at=0,
        updated_at=0,
        config=config,
    )


@pytest.mark.parametrize(
    ("rule_type", "config", "summary"),
    [
        ("KeywordRule", {"keywords": ["a", "b", "c", "d"]}, "4 keywords: a, b, c (+1 more)"),
        ("KeywordRule", {"keywords": ["only"]}, "1 keyword: only"),
        ("RegexRule", {"regex_patterns": [r"\d+", "x", "y"]}, r"3 patterns: \d+, x (+1 more)"),
        (
            "PIIDataRule",
            {"disabled_pii_entities": ["URL", "PERSON"], "allow_list": ["arthur.ai"], "confidence_threshold": 0.5},
            "2 entities disabled: URL, PERSON; allow list: arthur.ai; confidence ≥ 0.5",
        ),
        ("PIIDataRule", {}, "0 entities disabled"),
        ("ToxicityRule", {"threshold": 0.7}, "threshold 0.7"),
        ("ToxicityRule", None, "threshold 0.5"),
        (
            "ModelSensitiveDataRule",
            {"examples": [{"example": "x", "result": True}, {"example": "y", "result": False}], "hint": "ids"},
            "2 examples; hint: ids",
        ),
        ("PromptInjectionRule", None, "no configuration"),
    ],
)
def test_rule_summary_per_type(rule_type: str, config: dict | None, summary: str) -> None:
    assert rule_summary(rule(rule_type, config)) == summary


def job(kind: str, spec: dict) -> Job:
    return Job(
        id="j1",
        kind=kind,
        job_spec={"job_type": kind, **spec},
        state="queued",
        project_id="p",
        queued_at=NOW,
        ready_at=NOW,
    )


def test_spec_words() -> None:
    update = job(
        "update_model_task_rules",
        {
            "scope_model_id": "m",
            "rules_to_disable": ["5e2f0000-0000-0000-0000-000000000000"],
            "rules_to_add": [{"name": "No SSNs", "type": "RegexRule"}],
        },
    )
    assert spec_words(update) == "disable 1 rule (5e2f0000), add rule “No SSNs” (RegexRule)"
    create = job("create_model_task", {"task_name": "bot", "initial_rules": [{}, {}]})
    assert spec_words(create) == "create task “bot” with 2 initial rules"
    assert spec_words(job("create_model_link_task", {"task_id": "t-1"})) == "link existing task t-1"
    assert spec_words(job("regenerate_task_validation_key", {})) == "regenerate the task's validation key"


def test_times() -> None:
    now = timezone.now()
    assert ago(None) == "never"
    assert ago(now - timedelta(seconds=5)) == "just now"
    assert ago(now - timedelta(minutes=3, seconds=5)) == "3\xa0minutes ago"
    assert from_ms(1_000) == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert [duration(s) for s in (None, 4, 125, 3720)] == ["—", "4s", "2m 05s", "1h 02m"]


def test_is_stale_follows_the_setting(settings) -> None:
    settings.TASK_STALE_AFTER_SECONDS = 3600
    assert is_stale(None)
    assert not is_stale(timezone.now() - timedelta(minutes=59))
    assert is_stale(timezone.now() - timedelta(minutes=61))


def test_masked_keeps_only_the_last_four() -> None:
    assert masked(SecretStr("abcdefghijkl1234")) == "•" * 12 + "1234"
    assert "short" not in masked(SecretStr("short"))


@pytest.mark.django_db
def test_ledger_record_is_idempotent_and_outcome_never_leaves_a_terminal_state(django_user_model) -> None:
    from tasks_ui.models import LedgerEntry
    from tasks_ui.services import ledger_record, ledger_update_outcome

    user = django_user_model.objects.create(username="eddie")
    first = ledger_record(user=user, job="j1", kind="fetch_model_task", project_id="p", idempotency_key="k1")
    again = ledger_record(user=user, job="j1", kind="fetch_model_task", project_id="p", idempotency_key="k1")
    assert first.pk == again.pk and LedgerEntry.objects.count() == 1

    running = job("fetch_model_task", {}).model_copy(update={"state": "running"})
    assert ledger_update_outcome(job=running) == 1
    done = running.model_copy(update={"state": "completed", "finished_at": NOW})
    assert ledger_update_outcome(job=done) == 1
    # A stale read (say, a slow earlier poll) cannot bring a finished job back to running.
    assert ledger_update_outcome(job=running) == 0
    entry = LedgerEntry.objects.get(job_id="j1")
    assert entry.outcome == "completed" and entry.finished_at == NOW


@pytest.mark.django_db
def test_ledger_update_outcome_writes_only_when_the_state_changes(django_user_model) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tasks_ui.services import ledger_record, ledger_update_outcome

    user = django_user_model.objects.create(username="eddie")
    ledger_record(user=user, job="j1", kind="fetch_model_task", project_id="p", idempotency_key="k1")
    running = job("fetch_model_task", {}).model_copy(update={"state": "running"})
    done = running.model_copy(update={"state": "completed", "finished_at": NOW})
    unknown = running.model_copy(update={"id": "not-in-the-ledger"})

    def writes(for_job) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            ledger_update_outcome(job=for_job)
        return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]

    assert len(writes(running)) == 1  # queued → running: one write
    assert writes(running) == []  # the next poll, still running: no write
    assert len(writes(done)) == 1
    assert writes(done) == []  # a finished job polled again (served from cache): no write
    assert writes(unknown) == []  # not submitted through the dashboard: no write


def test_rule_rows_escape_every_value_and_offer_the_changes_a_rule_allows() -> None:
    class Draft:
        def pending(self, rule_id: str) -> str | None:
            return "disable" if rule_id == "r2" else None

    hostile = '"><script>alert(1)</script>'
    rows = [
        {"id": "r1", "name": hostile, "type": "KeywordRule", "scope": "task", "apply_to_prompt": True,
         "apply_to_response": True, "enabled": False, "summary": "<b>"},
        {"id": "r2", "name": "pii", "type": "PIIDataRule", "scope": "default", "apply_to_prompt": False,
         "apply_to_response": True, "enabled": True, "summary": "s"},
    ]
    html = rule_rows(rows, Draft(), True)
    assert "<script>" not in html and "<b>" not in html
    assert '<td>&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</td>' in html
    assert 'aria-label="Enable &quot;&gt;&lt;script&gt;' in html and 'value="archive:r1"' in html
    assert '<td class="applies">prompt + response</td>' in html
    first, second = html.split("</tr>")[:2]
    assert 'data-toggle="undo"' not in first and "pending" not in first
    assert '<tr data-rule-id="r2" class="pending" data-pending="disable">' in second
    assert 'value="undo:r2"' in second and 'value="archive:r2"' not in second
    assert "badge-scope-default" in second and '<td class="applies">response</td>' in second
    assert "<button" not in rule_rows(rows, None, False)
