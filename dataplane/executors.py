"""What the agent does for each task job kind, step by step with the ml-engine's rollbacks.

Each executor is a plain function ``(store, port, spec, log)``: the engine store, the control-plane
port, the job's ``job_spec`` dict and a logger whose every line reaches the job's logs. It returns
when the job succeeded and raises when it failed (the exception's message is the job's error); what
a failed job had already done is undone first, so a failure leaves things as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Protocol

from arthur_api.errors import ArthurNotFound
from dataplane.ports import ENGINE_CONNECTOR_TYPES, TASK_ID_LOCATOR_KEY, ControlPlanePort
from dataplane.store import EngineNotFound, EngineRejected, EngineStore, NewApiKey


class JobLog(Protocol):
    def info(self, message: str) -> None: ...

    def warning(self, message: str) -> None: ...

    def error(self, message: str) -> None: ...


class JobFailed(Exception):
    """A job that cannot be done; its message is what the job's errors and logs say."""


@dataclass(frozen=True)
class TaskScope:
    """A scope model and the engine task behind it (the ml-engine's task-management lookup)."""

    model_id: str
    project_id: str
    dataset_id: str
    task_id: str


Executor = Callable[[EngineStore, ControlPlanePort, dict[str, Any], JobLog], None]


class Undo:
    """Steps to take back, newest first, if a later step fails."""

    def __init__(self, log: JobLog) -> None:
        self._log = log
        self._steps: list[tuple[str, Callable[[], None]]] = []

    def push(self, description: str, step: Callable[[], None]) -> None:
        self._steps.append((description, step))

    def run(self) -> None:
        for description, step in reversed(self._steps):
            self._log.warning(f"Rolling back: {description}")
            try:
                step()
            except Exception as error:  # a failed undo must not hide the original failure
                self._log.error(f"Rollback step failed ({description}): {error}")
        self._steps.clear()


@contextmanager
def rollback_on_failure(log: JobLog) -> Iterator[Undo]:
    undo = Undo(log)
    try:
        yield undo
    except BaseException:
        undo.run()
        raise


def lookup_task_scope(port: ControlPlanePort, model_id: str) -> TaskScope:
    """Find the engine task behind a scope model: its one engine dataset and the locator's task_id.

    Raises `JobFailed` with the ml-engine's messages when the model is not a task model;
    `ArthurNotFound` when the model or dataset does not exist.
    """
    model = port.get_model(model_id)
    engine_datasets = [ref for ref in model.datasets if ref.connector_type in ENGINE_CONNECTOR_TYPES]
    if not engine_datasets:
        raise JobFailed(f"Model {model_id} has no Shield dataset: it is not a task model.")
    if len(engine_datasets) > 1:
        raise JobFailed("Cannot perform task management on models with more than one Shield Dataset")
    dataset = port.get_dataset(engine_datasets[0].dataset_id)
    task_id = dataset.locator.get(TASK_ID_LOCATOR_KEY)
    if not task_id:
        raise JobFailed(f"Dataset {dataset.id} has no task_id in its locator.")
    return TaskScope(model_id=model.id, project_id=model.project_id, dataset_id=dataset.id, task_id=task_id)


def upload_task_state(store: EngineStore, port: ControlPlanePort, model_id: str, task_id: str, log: JobLog) -> None:
    """Read the task from the engine and put it into the control plane's task cache."""
    task = store.task_response(task_id)
    log.info(f"Uploading the state of task {task_id} ({len(task['rules'])} rules) to the control plane")
    port.put_task_cache(model_id, {"task": task, "evals": [], "continuous_evals": [], "transforms": []})


def connection_info(store: EngineStore, key: NewApiKey) -> dict[str, Any]:
    """The ``PutTaskConnectionInfo`` body for a new validation key of this engine."""
    return {"api_host": store.api_host, "validation_key": {"id": key.id, "name": key.description, "key": key.key}}


def _check_engine_connector(port: ControlPlanePort, connector_id: str, log: JobLog) -> str:
    connector = port.get_connector(connector_id)
    if connector.connector_type not in ENGINE_CONNECTOR_TYPES:
        raise JobFailed("Invalid connector, task management only works with Shield connectors.")
    log.info(f"Using {connector.connector_type} connector {connector.name} ({connector.id})")
    return connector.name


def _register_task_model(
    store: EngineStore,
    port: ControlPlanePort,
    undo: Undo,
    log: JobLog,
    *,
    task: dict[str, Any],
    connector_id: str,
    connector_name: str,
    onboarding_identifier: str | None,
) -> None:
    """Steps 5–9 of create (and all of link): dataset, model, validation key, connection info, cache."""
    task_id = task["id"]
    dataset = port.create_dataset(
        connector_id,
        {
            "name": task["name"],
            "dataset_locator": {"fields": [{"key": TASK_ID_LOCATOR_KEY, "value": task_id}]},
            "model_problem_type": "agentic_trace" if task.get("is_agentic") else "arthur_shield",
        },
    )
    undo.push(f"delete dataset {dataset.id}", lambda: _ignore_missing(port.delete_dataset, dataset.id))
    log.info(f"Created dataset {dataset.id} for task {task_id}")
    model = port.create_model(
        dataset.project_id,
        {
            "name": task["name"],
            "description": f"This model corresponds to task {task['name']} in connector {connector_name}",
            "onboarding_identifier": onboarding_identifier,
            "dataset_ids": [dataset.id],
        },
    )
    undo.push(f"delete model {model.id}", lambda: _ignore_missing(port.delete_model, model.id))
    log.info(f"Created model {model.id} for task {task_id}")
    key = store.create_validation_key(task_id)
    undo.push(f"deactivate validation key {key.id}", lambda: store.deactivate_key(key.id))
    log.info(f"Created validation key {key.id} for task {task_id}")
    port.put_connection_info(model.id, connection_info(store, key))
    log.info(f"Stored the connection info of model {model.id}")
    upload_task_state(store, port, model.id, task_id, log)


def create_model_task(store: EngineStore, port: ControlPlanePort, spec: dict[str, Any], log: JobLog) -> None:
    """Create the engine task with its initial rules, then its dataset, model, key and cache.

    Any failure undoes everything done so far (the task is archived, as in the ml-engine).
    """
    connector_id = str(spec["connector_id"])
    connector_name = _check_engine_connector(port, connector_id, log)
    with rollback_on_failure(log) as undo:
        engine_task = store.create_task(spec["task_name"], agent_metadata=spec.get("agent_metadata"))
        task_id = str(engine_task.id)
        undo.push(f"archive task {task_id}", lambda: store.archive_task(task_id))
        log.info(f"Created task {task_id} ({engine_task.name}) in the engine")
        for new_rule in spec.get("initial_rules") or []:
            rule = store.add_task_rule(task_id, new_rule)
            log.info(f"Added rule {rule.id} ({rule.name}, {rule.type})")
        _register_task_model(
            store,
            port,
            undo,
            log,
            task=store.task_response(task_id),
            connector_id=connector_id,
            connector_name=connector_name,
            onboarding_identifier=spec.get("onboarding_identifier"),
        )


def link_model_task(store: EngineStore, port: ControlPlanePort, spec: dict[str, Any], log: JobLog) -> None:
    """Give an existing engine task a model, key and cache; the task itself is never changed."""
    connector_id = str(spec["connector_id"])
    connector_name = _check_engine_connector(port, connector_id, log)
    task = store.task_response(str(spec["task_id"]))
    log.info(f"Linking existing task {task['id']} ({task['name']})")
    with rollback_on_failure(log) as undo:
        _register_task_model(
            store,
            port,
            undo,
            log,
            task=task,
            connector_id=connector_id,
            connector_name=connector_name,
            onboarding_identifier=spec.get("onboarding_identifier"),
        )


def update_model_task_rules(store: EngineStore, port: ControlPlanePort, spec: dict[str, Any], log: JobLog) -> None:
    """Add, enable, disable and archive rules, then upload the task's state.

    Rules added by this job are removed again if a later step fails. Enabling or disabling a rule
    the task does not have changes nothing (as in the engine); archiving one that cannot be archived
    is logged and skipped (the ml-engine ignores those 400s and 404s).
    """
    scope = lookup_task_scope(port, str(spec["scope_model_id"]))
    log.info(f"Updating the rules of task {scope.task_id}")
    with rollback_on_failure(log) as undo:
        for new_rule in spec.get("rules_to_add") or []:
            rule = store.add_task_rule(scope.task_id, new_rule)
            rule_id = rule.id
            undo.push(f"remove added rule {rule_id}", lambda rule_id=rule_id: store.delete_task_rule(rule_id))
            log.info(f"Added rule {rule.id} ({rule.name}, {rule.type})")
        for enabled, key in ((True, "rules_to_enable"), (False, "rules_to_disable")):
            verb = "Enabled" if enabled else "Disabled"
            for rule_id in spec.get(key) or []:
                if store.set_rule_enabled(scope.task_id, rule_id, enabled):
                    log.info(f"{verb} rule {rule_id}")
                else:
                    log.warning(f"Rule {rule_id} is not associated with task {scope.task_id}; nothing to change")
        for rule_id in spec.get("rules_to_archive") or []:
            try:
                store.archive_task_rule(scope.task_id, rule_id)
                log.info(f"Archived rule {rule_id}")
            except EngineRejected as error:
                log.warning(f"Rule {rule_id} not archived: {error}")
        upload_task_state(store, port, scope.model_id, scope.task_id, log)


def fetch_model_task(store: EngineStore, port: ControlPlanePort, spec: dict[str, Any], log: JobLog) -> None:
    """Sync: read the task from the engine and upload it to the control plane's cache."""
    scope = lookup_task_scope(port, str(spec["scope_model_id"]))
    upload_task_state(store, port, scope.model_id, scope.task_id, log)


def delete_model_task(store: EngineStore, port: ControlPlanePort, spec: dict[str, Any], log: JobLog) -> None:
    """Deactivate the key, drop the connection info, archive the task, delete model and dataset.

    Idempotent: whatever is already gone is logged and skipped, so running it twice succeeds.
    """
    model_id = str(spec["scope_model_id"])
    try:
        scope = lookup_task_scope(port, model_id)
    except ArthurNotFound:
        log.warning(f"Model {model_id} no longer exists; nothing left to delete")
        return
    key_id = port.get_validation_key_id(model_id)
    if key_id is not None:
        _ignore_missing(store.deactivate_key, key_id)
        log.info(f"Deactivated validation key {key_id}")
        _ignore_missing(port.delete_connection_info, model_id)
        log.info(f"Deleted the connection info of model {model_id}")
    _ignore_missing(store.archive_task, scope.task_id)
    log.info(f"Archived task {scope.task_id}")
    _ignore_missing(port.delete_model, model_id)
    log.info(f"Deleted model {model_id}")
    _ignore_missing(port.delete_dataset, scope.dataset_id)
    log.info(f"Deleted dataset {scope.dataset_id}")


def regenerate_validation_key(store: EngineStore, port: ControlPlanePort, spec: dict[str, Any], log: JobLog) -> None:
    """Create a new validation key, store it as the connection info, then deactivate the old one.

    The new key is stored before the old one is deactivated, so the model is never left holding a
    dead key; if storing fails the new key is deactivated and the old one keeps working.
    """
    scope = lookup_task_scope(port, str(spec["scope_model_id"]))
    old_key_id = port.get_validation_key_id(scope.model_id)
    with rollback_on_failure(log) as undo:
        key = store.create_validation_key(scope.task_id)
        undo.push(f"deactivate new validation key {key.id}", lambda: store.deactivate_key(key.id))
        log.info(f"Created validation key {key.id} for task {scope.task_id}")
        port.put_connection_info(scope.model_id, connection_info(store, key))
        log.info(f"Stored the new connection info of model {scope.model_id}")
    if old_key_id is not None and old_key_id != key.id:
        _ignore_missing(store.deactivate_key, old_key_id)
        log.info(f"Deactivated the previous validation key {old_key_id}")


# Job.kind → executor. Two kinds carry a different job_type literal in their spec (see ARCHITECTURE.md).
EXECUTORS: dict[str, Executor] = {
    "create_model_task": create_model_task,
    "create_model_link_task": link_model_task,
    "update_model_task_rules": update_model_task_rules,
    "delete_model_task": delete_model_task,
    "fetch_model_task": fetch_model_task,
    "regenerate_task_validation_key": regenerate_validation_key,
}


def _ignore_missing(call: Callable[[str], None], resource_id: str) -> None:
    with suppress(ArthurNotFound, EngineNotFound):
        call(resource_id)
