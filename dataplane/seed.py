"""The engine store's demo data: the very tasks, rules and validation keys the control plane's seed
has cached, so that syncing, patching or validating a demo task works from the first click.

The demo definitions (stable ids, rules, keys) come from `controlplane.seed_platform`; this is the
one place the data plane reads them, and only to seed a demo.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.db import transaction

from arthur_api.rules import canonical_config
from dataplane.models import EngineApiKey, EngineRule, EngineTask, TaskRuleLink
from dataplane.store import VALIDATION_USER, key_digest

if TYPE_CHECKING:
    from controlplane.seed_platform import DemoRule


def _moment(unix_ms: int) -> datetime:
    return datetime.fromtimestamp(unix_ms / 1000, tz=UTC)


@transaction.atomic
def seed_engine() -> str:
    """Create the demo default rules, tasks, links and validation keys when missing; returns a summary.

    Idempotent: existing rows are left as they are, so changes made since (by jobs or by hand)
    survive a re-seed.
    """
    from controlplane.seed_platform import DEMO_DEFAULT_RULES, DEMO_TASKS, demo_validation_key

    created = {"rules": 0, "tasks": 0, "keys": 0}
    for demo_rule in DEMO_DEFAULT_RULES:
        created["rules"] += _ensure_rule(demo_rule, task=None)
    for demo_task in DEMO_TASKS:
        response = demo_task.task_response()
        task, made = EngineTask.objects.get_or_create(
            id=demo_task.task_id,
            defaults={
                "name": demo_task.name,
                "is_archived": demo_task.archived,
                "created_at": _moment(response["created_at"]),
                "updated_at": _moment(response["updated_at"]),
            },
        )
        created["tasks"] += made
        for demo_rule in demo_task.rules:
            created["rules"] += _ensure_rule(demo_rule, task=task)
        for demo_rule in demo_task.linked_rules():
            TaskRuleLink.objects.get_or_create(
                task=task, rule_id=demo_rule.id, defaults={"enabled": demo_rule.key not in demo_task.disabled}
            )
        _, made = EngineApiKey.objects.get_or_create(
            id=demo_task.validation_key_id,
            defaults={
                "description": demo_task.validation_key_name,
                "roles": [VALIDATION_USER],
                "key_digest": key_digest(demo_validation_key(demo_task.task_id)),
                "task": task,
            },
        )
        created["keys"] += made
    return (
        f"engine store: {created['tasks']} tasks, {created['rules']} rules, {created['keys']} validation keys created"
    )


def _ensure_rule(demo_rule: DemoRule, *, task: EngineTask | None) -> int:
    at = _moment(demo_rule.response(enabled=True)["created_at"])
    _, made = EngineRule.objects.get_or_create(
        id=demo_rule.id,
        defaults={
            "name": demo_rule.name,
            "type": demo_rule.type,
            "apply_to_prompt": demo_rule.apply_to_prompt,
            "apply_to_response": demo_rule.apply_to_response,
            "scope": demo_rule.scope,
            "config": canonical_config(demo_rule.type, demo_rule.config),
            "task": task,
            "created_at": at,
            "updated_at": at,
        },
    )
    return int(made)
