"""The engine store's demo seed mirrors the control plane's demo tasks exactly."""

from __future__ import annotations

import pytest

from arthur_api.rules import validate_new_rule
from dataplane.models import EngineApiKey, EngineRule, EngineTask
from dataplane.seed import seed_engine
from dataplane.store import EngineStore

pytestmark = pytest.mark.django_db


def by_id(rules):
    return {rule["id"]: rule for rule in rules}


def test_every_demo_rule_is_one_the_engine_accepts():
    from controlplane.seed_platform import DEMO_DEFAULT_RULES, DEMO_TASKS

    for demo_rule in DEMO_DEFAULT_RULES + tuple(rule for task in DEMO_TASKS for rule in task.rules):
        data = demo_rule.response(enabled=True)
        assert validate_new_rule(data) == [], demo_rule.name


def test_the_engine_store_holds_what_the_control_plane_cached():
    from controlplane.seed_platform import DEMO_TASKS, demo_validation_key

    seed_engine()
    store = EngineStore(api_host="http://testserver/engine")
    for demo_task in DEMO_TASKS:
        cached = demo_task.task_response()
        engine = store.task_response(demo_task.task_id)
        assert {key: engine[key] for key in cached if key != "rules"} == {
            key: value for key, value in cached.items() if key != "rules"
        }
        assert by_id(engine["rules"]) == by_id(cached["rules"])
        key = demo_validation_key(demo_task.task_id)
        assert store.authenticate_validation_key(demo_task.task_id, key).id == demo_task.validation_key_id


def test_seeding_twice_changes_nothing_and_keeps_later_edits():
    seed_engine()
    counts = (EngineTask.objects.count(), EngineRule.objects.count(), EngineApiKey.objects.count())
    EngineTask.objects.filter(name="support-bot").update(name="renamed by a job")
    summary = seed_engine()
    assert "0 tasks, 0 rules, 0 validation keys" in summary
    assert (EngineTask.objects.count(), EngineRule.objects.count(), EngineApiKey.objects.count()) == counts
    assert EngineTask.objects.filter(name="renamed by a job").exists()
