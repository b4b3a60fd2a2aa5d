"""An in-memory control plane behind the executors' port, for executor tests without HTTP."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from arthur_api.errors import ArthurNotFound, ArthurUnavailable
from dataplane.ports import ConnectorInfo, DatasetInfo, DatasetRef, ModelInfo


@dataclass
class FakePort:
    project_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    connectors: dict[str, ConnectorInfo] = field(default_factory=dict)
    datasets: dict[str, DatasetInfo] = field(default_factory=dict)
    models: dict[str, ModelInfo] = field(default_factory=dict)
    connection_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    caches: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Name of a method that should fail with ArthurUnavailable (to exercise rollbacks).
    broken: str | None = None

    def add_connector(self, connector_type: str = "engine_internal") -> str:
        connector_id = str(uuid.uuid4())
        self.connectors[connector_id] = ConnectorInfo(
            connector_id, f"{connector_type} connector", connector_type, self.project_id
        )
        return connector_id

    def _check(self, name: str) -> None:
        if self.broken == name:
            raise ArthurUnavailable(f"{name} failed: control plane unavailable", status=503)

    def get_model(self, model_id: str) -> ModelInfo:
        self._check("get_model")
        if model_id not in self.models:
            raise ArthurNotFound("Resource not found", status=404)
        return self.models[model_id]

    def create_model(self, project_id: str, body: dict[str, Any]) -> ModelInfo:
        self._check("create_model")
        model_id = str(uuid.uuid4())
        refs = tuple(
            DatasetRef(dataset_id, self.connectors[self.datasets[dataset_id].connector_id].connector_type)
            for dataset_id in body["dataset_ids"]
        )
        self.models[model_id] = ModelInfo(model_id, project_id, body["name"], refs)
        return self.models[model_id]

    def delete_model(self, model_id: str) -> None:
        self._check("delete_model")
        if self.models.pop(model_id, None) is None:
            raise ArthurNotFound("Resource not found", status=404)
        self.caches.pop(model_id, None)
        self.connection_info.pop(model_id, None)

    def get_dataset(self, dataset_id: str) -> DatasetInfo:
        self._check("get_dataset")
        if dataset_id not in self.datasets:
            raise ArthurNotFound("Resource not found", status=404)
        return self.datasets[dataset_id]

    def create_dataset(self, connector_id: str, body: dict[str, Any]) -> DatasetInfo:
        self._check("create_dataset")
        dataset_id = str(uuid.uuid4())
        locator = {item["key"]: item["value"] for item in body["dataset_locator"]["fields"]}
        self.datasets[dataset_id] = DatasetInfo(dataset_id, self.project_id, connector_id, locator)
        return self.datasets[dataset_id]

    def delete_dataset(self, dataset_id: str) -> None:
        self._check("delete_dataset")
        if self.datasets.pop(dataset_id, None) is None:
            raise ArthurNotFound("Resource not found", status=404)

    def get_connector(self, connector_id: str) -> ConnectorInfo:
        self._check("get_connector")
        if connector_id not in self.connectors:
            raise ArthurNotFound("Resource not found", status=404)
        return self.connectors[connector_id]

    def get_validation_key_id(self, model_id: str) -> str | None:
        self._check("get_validation_key_id")
        info = self.connection_info.get(model_id)
        return info["validation_key"]["id"] if info else None

    def put_connection_info(self, model_id: str, body: dict[str, Any]) -> None:
        self._check("put_connection_info")
        self.connection_info[model_id] = body

    def delete_connection_info(self, model_id: str) -> None:
        self._check("delete_connection_info")
        if self.connection_info.pop(model_id, None) is None:
            raise ArthurNotFound("Resource not found", status=404)

    def put_task_cache(self, model_id: str, body: dict[str, Any]) -> None:
        self._check("put_task_cache")
        if model_id not in self.models:
            raise ArthurNotFound("Resource not found", status=404)
        self.caches[model_id] = body


@dataclass
class ListLog:
    lines: list[tuple[str, str]] = field(default_factory=list)

    def info(self, message: str) -> None:
        self.lines.append(("info", message))

    def warning(self, message: str) -> None:
        self.lines.append(("warning", message))

    def error(self, message: str) -> None:
        self.lines.append(("error", message))

    def text(self) -> str:
        return "\n".join(message for _, message in self.lines)
