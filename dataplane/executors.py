"""What the agent does for each task job kind, step by step with the ml-engine's rollbacks.

Each executor is a plain function ``(store, port, spec, log, job_id)``: the engine store, the
control-plane port, the job's ``job_spec`` dict, a logger whose every line reaches the job's logs and
the job's id. It returns when the job succeeded and raises when it failed (the exception's message is
the job's error); what a failed job had already done is undone first, so a failure leaves things as
they were.

Exactly once across attempts: the queue runs a job again when its agent dies (SIGKILL, power loss)
before the job's result reached the control plane, and the undo steps never ran. So a job's engine
writes are committed in one transaction together with its `AppliedJob` marker ("job <id> applied",
holding the ids a later attempt needs); an attempt that finds the marker skips those writes and only
does what is left: the control-plane calls (connection info, task cache, all idempotent PUTs) and the
report. A kill before the commit leaves nothing applied. Log lines (HTTP posts) are buffered while the
transaction is open and posted after it, so no transaction is held across a control-plane call.
What stays at-least-once: create's ``POST`` of a dataset and of a model (a kill after the control
plane created one but before its id is recorded in the marker leaves that one orphaned; a retry
creates another), and the final deactivation of a replaced key (idempotent).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import IntegrityError, transaction

from arthur_api.errors import ArthurNotFound
from dataplane.models import AppliedJob
from dataplane.ports import ENGINE_CONNECTOR_TYPES, TASK_ID_LOCATOR_KEY, ControlPlanePort
from dataplane.store import (
    EngineNotFound,
    EngineRejected,
    EngineStore,
    NewApiKey,
    seal_secret,
    unseal_secret,
)


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


class Executor(Protocol):
    def __call__(
        self,
        store: EngineStore,
        port: ControlPlanePort,
        spec: dict[str, Any],
        log: JobLog,
        job_id: str | None = None,
    ) -> None: ...


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


class BufferedLog:
    """Log lines kept while a transaction is open (posting one is an HTTP call) and written after it."""

    def __init__(self, log: JobLog) -> None:
        self._log = log
        self._lines: list[tuple[str, str]] = []

    def info(self, message: str) -> None:
        self._lines.append(("info", message))

    def warning(self, message: str) -> None:
        self._lines.append(("warning", message))

    def error(self, message: str) -> None:
        self._lines.append(("error", message))

    def flush(self) -> None:
        for level, message in self._lines:
            getattr(self._log, level)(message)
        self._lines.clear()


@dataclass
class EngineWrites:
    """What a job's engine writes leave in its marker: ``progress`` (ids), an optional sealed key
    secret, and, for the log only, what the transaction's rollback takes back if a write fails."""

    progress: dict[str, Any] = field(default_factory=dict)
    sealed_key: str = ""
    rolled_back: list[str] = field(default_factory=list)


def commit_once(
    store: EngineStore,
    job_id: str,
    kind: str,
    log: JobLog,
    apply: Callable[[BufferedLog, EngineWrites], None],
) -> AppliedJob:
    """Run ``apply`` (a job's engine writes) in one transaction with the job's marker; returns the marker.

    When a write fails the transaction is rolled back (nothing applied) and the error raised. When
    another attempt of the same job committed first, nothing is applied and its marker is returned.
    """
    buffered = BufferedLog(log)
    writes = EngineWrites()
    try:
        with transaction.atomic():
            store.start_job(job_id, kind)
            apply(buffered, writes)
            marker = store.save_job_progress(job_id, kind, writes.progress, sealed_key=writes.sealed_key)
    except IntegrityError:
        buffered.flush()
        marker = store.applied_job(job_id)
        if marker is None:
            raise
        log.info(f"Another attempt of job {job_id} applied its engine changes; finishing the job")
        return marker
    except BaseException:
        buffered.flush()
        for description in reversed(writes.rolled_back):
            log.warning(f"Rolling back: {description}")
        raise
    buffered.flush()
    return marker


def _log_resumed(log: JobLog, job_id: str) -> None:
    log.info(f"The engine changes of job {job_id} were applied by an earlier attempt; finishing the job")


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
    job_id: str,
    kind: str,
    task: dict[str, Any],
    connector_id: str,
    connector_name: str,
    onboarding_identifier: str | None,
) -> None:
    """Steps 5–9 of create (and all of link): dataset, model, validation key, connection info, cache.

    Each step's result is recorded in the job's marker, so an attempt after a killed one reuses it.
    """
    task_id = task["id"]
    marker = store.applied_job(job_id)
    progress = marker.progress if marker is not None else {}
    if progress.get("dataset_id"):
        dataset = port.get_dataset(progress["dataset_id"])
        log.info(f"Using dataset {dataset.id} created by an earlier attempt")
    else:
        # At-least-once: a kill between this POST and the next line leaves the dataset orphaned.
        dataset = port.create_dataset(
            connector_id,
            {
                "name": task["name"],
                "dataset_locator": {"fields": [{"key": TASK_ID_LOCATOR_KEY, "value": task_id}]},
                "model_problem_type": "agentic_trace" if task.get("is_agentic") else "arthur_shield",
            },
        )
        store.save_job_progress(job_id, kind, {"dataset_id": dataset.id})
        log.info(f"Created dataset {dataset.id} for task {task_id}")
    undo.push(f"delete dataset {dataset.id}", lambda: _ignore_missing(port.delete_dataset, dataset.id))
    if progress.get("model_id"):
        model = port.get_model(progress["model_id"])
        log.info(f"Using model {model.id} created by an earlier attempt")
    else:
        model = port.create_model(
            dataset.project_id,
            {
                "name": task["name"],
                "description": f"This model corresponds to task {task['name']} in connector {connector_name}",
                "onboarding_identifier": onboarding_identifier,
                "dataset_ids": [dataset.id],
            },
        )
        store.save_job_progress(job_id, kind, {"model_id": model.id})
        log.info(f"Created model {model.id} for task {task_id}")
    undo.push(f"delete model {model.id}", lambda: _ignore_missing(port.delete_model, model.id))
    if progress.get("key_id"):
        marker = store.applied_job(job_id)
        key_id = progress["key_id"]
        log.info(f"Using validation key {key_id} created by an earlier attempt")
    else:
        with transaction.atomic():  # the key and its sealed secret are recorded together
            new_key = store.create_validation_key(task_id)
            marker = store.save_job_progress(job_id, kind, {"key_id": new_key.id}, sealed_key=seal_secret(new_key.key))
        key_id = new_key.id
        log.info(f"Created validation key {key_id} for task {task_id}")
    undo.push(f"deactivate validation key {key_id}", lambda: _ignore_missing(store.deactivate_key, key_id))
    if marker is not None and marker.sealed_key:
        key = store.validation_key(key_id, unseal_secret(marker.sealed_key))
        port.put_connection_info(model.id, connection_info(store, key))
        store.save_job_progress(job_id, kind, {"connection_stored": True}, sealed_key="")
        log.info(f"Stored the connection info of model {model.id}")
    else:
        log.info(f"The connection info of model {model.id} was stored by an earlier attempt")
    upload_task_state(store, port, model.id, task_id, log)


def create_model_task(
    store: EngineStore, port: ControlPlanePort, spec: dict[str, Any], log: JobLog, job_id: str
) -> None:
    """Create the engine task with its initial rules, then its dataset, model, key and cache.

    The task and its rules are committed with the job's marker; any later failure undoes everything
    done so far (the task is archived, as in the ml-engine). A failing initial rule leaves no task.
    """
    kind = "create_model_task"
    connector_id = str(spec["connector_id"])
    connector_name = _check_engine_connector(port, connector_id, log)

    def create_task(buffered: BufferedLog, writes: EngineWrites) -> None:
        engine_task = store.create_task(spec["task_name"], agent_metadata=spec.get("agent_metadata"))
        task_id = str(engine_task.id)
        writes.progress = {"task_id": task_id, "undo": {"task_created": True}}
        writes.rolled_back.append(f"archive task {task_id}")
        buffered.info(f"Created task {task_id} ({engine_task.name}) in the engine")
        for new_rule in spec.get("initial_rules") or []:
            rule = store.add_task_rule(task_id, new_rule)
            buffered.info(f"Added rule {rule.id} ({rule.name}, {rule.type})")

    marker = store.applied_job(job_id)
    if marker is None:
        marker = commit_once(store, job_id, kind, log, create_task)
    else:
        _log_resumed(log, job_id)
    task_id = marker.progress["task_id"]
    with rollback_on_failure(log) as undo:
        undo.push(f"archive task {task_id}", lambda: store.revert_job(job_id))
        _register_task_model(
            store,
            port,
            undo,
            log,
            job_id=job_id,
            kind=kind,
            task=store.task_response(task_id),
            connector_id=connector_id,
            connector_name=connector_name,
            onboarding_identifier=spec.get("onboarding_identifier"),
        )


def link_model_task(store: EngineStore, port: ControlPlanePort, spec: dict[str, Any], log: JobLog, job_id: str) -> None:
    """Give an existing engine task a model, key and cache; the task itself is never changed."""
    connector_id = str(spec["connector_id"])
    connector_name = _check_engine_connector(port, connector_id, log)
    task = store.task_response(str(spec["task_id"]))
    log.info(f"Linking existing task {task['id']} ({task['name']})")
    with rollback_on_failure(log) as undo:
        undo.push(f"forget the progress of job {job_id}", lambda: store.revert_job(job_id))
        _register_task_model(
            store,
            port,
            undo,
            log,
            job_id=job_id,
            kind="create_model_link_task",
            task=task,
            connector_id=connector_id,
            connector_name=connector_name,
            onboarding_identifier=spec.get("onboarding_identifier"),
        )


def update_model_task_rules(
    store: EngineStore, port: ControlPlanePort, spec: dict[str, Any], log: JobLog, job_id: str
) -> None:
    """Add, enable, disable and archive rules (one transaction, with the job's marker), then upload the
    task's state.

    A rule that cannot be added rolls the whole change back. If the upload fails, the committed
    changes are undone (added rules removed, flags and archived rules restored). Enabling or
    disabling a rule the task does not have changes nothing (as in the engine); archiving one that
    cannot be archived is logged and skipped (the ml-engine ignores those 400s and 404s).
    """
    scope = lookup_task_scope(port, str(spec["scope_model_id"]))
    log.info(f"Updating the rules of task {scope.task_id}")

    def change_rules(buffered: BufferedLog, writes: EngineWrites) -> None:
        added: list[str] = []
        enabled_before: dict[str, bool] = {}
        archived: list[str] = []
        writes.progress = {
            "task_id": scope.task_id,
            "undo": {"added": added, "enabled": enabled_before, "archived": archived},
        }
        for new_rule in spec.get("rules_to_add") or []:
            rule = store.add_task_rule(scope.task_id, new_rule)
            added.append(str(rule.id))
            writes.rolled_back.append(f"remove added rule {rule.id}")
            buffered.info(f"Added rule {rule.id} ({rule.name}, {rule.type})")
        for enabled, key in ((True, "rules_to_enable"), (False, "rules_to_disable")):
            verb = "Enabled" if enabled else "Disabled"
            for rule_id in spec.get(key) or []:
                before = store.task_rule_enabled(scope.task_id, rule_id)
                if store.set_rule_enabled(scope.task_id, rule_id, enabled):
                    if before is not None and before != enabled:
                        enabled_before.setdefault(str(rule_id), before)
                    buffered.info(f"{verb} rule {rule_id}")
                else:
                    buffered.warning(f"Rule {rule_id} is not associated with task {scope.task_id}; nothing to change")
        for rule_id in spec.get("rules_to_archive") or []:
            try:
                store.archive_task_rule(scope.task_id, rule_id)  # its own savepoint: a refusal changes nothing
                archived.append(str(rule_id))
                buffered.info(f"Archived rule {rule_id}")
            except EngineRejected as error:
                buffered.warning(f"Rule {rule_id} not archived: {error}")

    if store.applied_job(job_id) is None:
        commit_once(store, job_id, "update_model_task_rules", log, change_rules)
    else:
        _log_resumed(log, job_id)
    with rollback_on_failure(log) as undo:
        undo.push(f"undo the rule changes of job {job_id}", lambda: store.revert_job(job_id))
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


def regenerate_validation_key(
    store: EngineStore, port: ControlPlanePort, spec: dict[str, Any], log: JobLog, job_id: str
) -> None:
    """Create a new validation key, store it as the connection info, then deactivate the old one.

    The new key is stored before the old one is deactivated, so the model is never left holding a
    dead key; if storing fails the new key is deactivated and the old one keeps working. The new key
    (id, the old key's id, its secret sealed) is committed with the job's marker: an attempt after a
    killed one stores that same key and deactivates that same old key, creating none.
    """
    kind = "regenerate_task_validation_key"
    scope = lookup_task_scope(port, str(spec["scope_model_id"]))
    marker = store.applied_job(job_id)
    if marker is None:
        old_key_id = port.get_validation_key_id(scope.model_id)

        def create_key(buffered: BufferedLog, writes: EngineWrites) -> None:
            key = store.create_validation_key(scope.task_id)
            writes.progress = {"key_id": key.id, "previous_key_id": old_key_id}
            writes.sealed_key = seal_secret(key.key)
            buffered.info(f"Created validation key {key.id} for task {scope.task_id}")

        marker = commit_once(store, job_id, kind, log, create_key)
    else:
        _log_resumed(log, job_id)
    key_id = marker.progress["key_id"]
    old_key_id = marker.progress.get("previous_key_id")
    if marker.sealed_key:
        with rollback_on_failure(log) as undo:
            undo.push(f"deactivate new validation key {key_id}", lambda: store.revert_job(job_id))
            key = store.validation_key(key_id, unseal_secret(marker.sealed_key))
            port.put_connection_info(scope.model_id, connection_info(store, key))
            log.info(f"Stored the new connection info of model {scope.model_id}")
        store.save_job_progress(job_id, kind, {"connection_stored": True}, sealed_key="")
    else:
        log.info(f"The new connection info of model {scope.model_id} was stored by an earlier attempt")
    if old_key_id is not None and old_key_id != key_id:
        _ignore_missing(store.deactivate_key, old_key_id)
        log.info(f"Deactivated the previous validation key {old_key_id}")


def once_per_job(executor: Callable[..., None]) -> Executor:
    """The executor with ``job_id`` optional: run without one (outside the queue, nobody retries it),
    it works under a fresh id whose marker is dropped at the end."""

    @functools.wraps(executor)
    def run(
        store: EngineStore,
        port: ControlPlanePort,
        spec: dict[str, Any],
        log: JobLog,
        job_id: str | None = None,
    ) -> None:
        if job_id is not None:
            executor(store, port, spec, log, str(job_id))
            return
        own_id = str(uuid.uuid4())
        try:
            executor(store, port, spec, log, own_id)
        finally:
            store.forget_job(own_id)

    return run


def _no_engine_writes(executor: Callable[[EngineStore, ControlPlanePort, dict[str, Any], JobLog], None]) -> Executor:
    @functools.wraps(executor)
    def run(
        store: EngineStore,
        port: ControlPlanePort,
        spec: dict[str, Any],
        log: JobLog,
        job_id: str | None = None,
    ) -> None:
        executor(store, port, spec, log)

    return run


# Job.kind → executor. Two kinds carry a different job_type literal in their spec (see ARCHITECTURE.md).
# Sync and delete write nothing that a second run would duplicate (delete is idempotent).
EXECUTORS: dict[str, Executor] = {
    "create_model_task": once_per_job(create_model_task),
    "create_model_link_task": once_per_job(link_model_task),
    "update_model_task_rules": once_per_job(update_model_task_rules),
    "delete_model_task": _no_engine_writes(delete_model_task),
    "fetch_model_task": _no_engine_writes(fetch_model_task),
    "regenerate_task_validation_key": once_per_job(regenerate_validation_key),
}


def _ignore_missing(call: Callable[[str], None], resource_id: str) -> None:
    with suppress(ArthurNotFound, EngineNotFound):
        call(resource_id)
